"""Checks on the paths a command reads and writes, so a bad one is named before any slow work."""

from __future__ import annotations

import os
from pathlib import Path

from newsclf.errors import DataError, NewsclfError, OutputError


def missing(path: Path, what: str) -> str:
    """'<what> <path> does not exist', with what its folder holds, so a typo is easy to spot."""
    folder = path.parent
    if folder.is_dir():
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        held = f"{folder}/ holds: {', '.join(names[:10])}" if names else f"{folder}/ is empty"
    else:
        held = f"nor does {folder}/"
    return f"{what} {path} does not exist ({held}). Check the path."


def check_readable_file(path: Path, what: str, error: type[NewsclfError] = DataError) -> None:
    """Refuse a path that is missing, a directory, or unreadable, naming which."""
    if not path.exists():
        raise error(missing(path, what))
    if path.is_dir():
        raise error(f"{what} {path} is a directory; expected a file. Name the file inside it.")
    if not os.access(path, os.R_OK):
        raise error(
            f"{what} {path} cannot be read (permission denied). Make it readable "
            f"(chmod a+r {path}) or copy it somewhere you can read."
        )


def check_writable_dir(path: Path, what: str) -> None:
    """Refuse an output directory that could not be created or written, before any slow work."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{what} {path} cannot be created: {existing} is a file, not a directory. "
            "Pick another path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"{what} {path} cannot be written: {existing} is not writable by you. "
            "Pick a path you can write to."
        )


def check_writable_file(path: Path, what: str) -> None:
    """Refuse an output file that is a directory or whose folder could not be written."""
    if path.is_dir():
        raise OutputError(
            f"{what} {path} is a directory; expected a file path such as {path}/metrics.json."
        )
    check_writable_dir(path.parent, f"{what} {path}: its folder")


def not_decodable(
    path: Path, err: UnicodeDecodeError, encoding: str = "utf-8", flag: str | None = None
) -> str:
    """The message for a file whose bytes are not text in `encoding`, with the fix."""
    fix = (
        f"Re-save it as UTF-8, or pass {flag} (e.g. latin-1) if you know its encoding."
        if flag
        else "Re-save it as UTF-8."
    )
    return f"{path}: bytes that are not valid {encoding} at byte {err.start}. {fix}"
