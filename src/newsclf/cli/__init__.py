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
    """Usage errors as one line naming the bad argument and where the help is; `examples`
    (command lines, one a line) printed at the end of the help."""

    def __init__(self, *args: object, examples: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.examples = list(examples)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. See `{self.prog} --help`.\n")

    def format_help(self) -> str:
        if not self.examples:
            return super().format_help()
        lines = "\n".join(f"  {line}" for line in self.examples)
        return f"{super().format_help()}\nexamples:\n{lines}\n"


class _Commands(argparse._SubParsersAction):
    """The subcommands, each parsed with its options anywhere among its arguments
    (`newsclf predict MODEL --json "text"`: argparse's intermixed parsing), and each described
    (its one-line help is its description when it has no longer one)."""

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs.setdefault("description", kwargs.get("help"))
        return super().add_parser(name, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Sequence[str],
        option_string: str | None = None,
    ) -> None:
        name, arg_strings = values[0], values[1:]
        setattr(namespace, self.dest, name)
        command = self._name_parser_map.get(name)
        if command is None:
            super().__call__(parser, namespace, values, option_string)  # the usual error
            return
        parsed, extras = command.parse_known_intermixed_args(arg_strings)
        for key, value in vars(parsed).items():
            setattr(namespace, key, value)
        if extras:
            vars(namespace).setdefault(argparse._UNRECOGNIZED_ARGS_ATTR, []).extend(extras)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="newsclf",
        description="Fine-tune transformer encoders for text classification (AG News by default). "
        "Every command's options may come before, between or after its arguments.",
        examples=(
            "newsclf train --data mine.csv --text-column text --label-column label",
            'newsclf predict runs/mine "Federer wins his fifth Wimbledon title"',
            "newsclf COMMAND --help",
        ),
    )
    parser.register("action", "parsers", _Commands)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (training, distilling, predicting, outputs, inspecting):
        commands.add_parsers(sub)
    return parser
