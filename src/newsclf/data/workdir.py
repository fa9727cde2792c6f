"""The working directory of prepared data: the splits' texts and tokens are written there as
Arrow files and memory-mapped back, so a large file is never held in memory.

Each process gets its own directory under the system's temporary directory, removed when the
process exits; directories left by processes that were killed are swept the next time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Prepared splits are written under the temporary directory, in newsclf-data-<pid>-<random>.
WORKDIR_PREFIX = "newsclf-data-"


def new_workdir() -> Path:
    """A new directory for this process's prepared splits, removed when the process exits
    (the datasets built on it may outlive any one object). Directories that processes killed
    before exiting left behind are removed here."""
    for old in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = old.name[len(WORKDIR_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    atexit.register(_remove_own, path, os.getpid())
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_own(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that inherited the exit hook
        shutil.rmtree(path, ignore_errors=True)
