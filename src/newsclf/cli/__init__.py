"""The `newsclf` command. It parses arguments and calls the library; the work lives elsewhere.

One module per group of commands: `training` (train, tune, calibrate), `distilling`
(distill), `predicting` (evaluate, predict), `outputs` (plot, embed, report, serve, export), `inspecting` (audit, explain).
Heavy libraries (torch, transformers) are imported inside the commands, so `--help` is
instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from newsclf.cli import distilling, inspecting, outputs, predicting, training
from newsclf.errors import NewsclfError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed as one line
        return 0 if done.code is None else done.code if isinstance(done.code, int) else 2
    try:
        code = args.func(args) or 0
        from newsclf.distributed import finish

        finish()  # under `accelerate launch`: every process done before the group closes
        return code
    except NewsclfError as err:
        _error(args.command, str(err))
    except OSError as err:  # a path the checks did not foresee: still one line, no traceback
        where = f": {err.filename}" if err.filename else ""
        _error(args.command, f"{err.strerror or err}{where}. Check the path and its permissions.")
    except KeyboardInterrupt:
        print("\ninterrupted; nothing half-written was kept.", file=sys.stderr)
        return 130
    return 2


def _error(command: str, message: str) -> None:
    """Every error is one line on stderr (the exit code is 2)."""
    print(f"newsclf {command}: error: {' '.join(message.splitlines())}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the bad argument and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. See `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="newsclf",
        description="Fine-tune transformer encoders for text classification (AG News by default).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (training, distilling, predicting, outputs, inspecting):
        commands.add_parsers(sub)
    return parser
