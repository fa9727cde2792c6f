"""What the command modules share: the flags built from TrainConfig's fields, the help texts of
model and batch-size arguments, and loading a model quietly."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from newsclf.config import TrainConfig
from newsclf.model_dir import is_onnx_dir
from newsclf.quiet import quiet_libraries

# Each backend has its measured default (docs/performance.md).
MODEL_HELP = "a run's best_model/ (or the run dir), or a directory written by newsclf export"
BATCH_HELP = "texts per batch (default: 32 on a CPU, 256 on a GPU, 32 on ONNX Runtime)"
# Keys of a parsed namespace that are not config fields.
NOT_CONFIG = ("config", "func", "command", "resume", "trials", "timeout", "space", "storage")


def add_config_flags(p: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    """One flag per TrainConfig field (`--learning-rate`, `--no-visuals`, ...), with its help;
    `only`: just these fields (`newsclf audit` takes the data flags)."""
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if only is None or f.name in only:
            _add_field(p, f, getattr(defaults, f.name))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config: --config's YAML, with the flags given on top."""
    overrides = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
    if getattr(args, "config", None):
        return TrainConfig.from_yaml(args.config, **overrides)
    return TrainConfig.from_dict(overrides)


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, default: object) -> None:
    flag = "--" + f.name.replace("_", "-")
    help_text = f"{f.metadata.get('help', '')} (default: {default})"
    kind = str(f.type)
    if kind in ("bool", "bool | None"):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    elif kind.startswith("list[str]"):
        p.add_argument(
            flag,
            type=lambda s: [x.strip() for x in s.split(",")],
            help=help_text + "; comma-separated",
        )
    elif kind.endswith("| str"):  # a number or 'auto'
        number = {"int": int, "float": float}[kind.split(" |")[0]]
        p.add_argument(flag, type=_number_or_word(number), metavar=f.name.upper(), help=help_text)
    else:
        cast = {"int": int, "float": float}.get(kind.split(" |")[0], str)
        p.add_argument(flag, type=cast, metavar=f.name.upper(), help=help_text)


def _number_or_word(number: type) -> object:
    """A flag's value as `number` where it reads as one, else the word itself ('auto'): the
    config's check then names what it expects."""

    def parse(text: str) -> object:
        try:
            return number(text)
        except ValueError:
            return text

    return parse


def loading_quietly(model: str | Path) -> AbstractContextManager:
    """transformers draws a progress bar for loading weights; in a one-shot command it is noise.
    An ONNX export loads without transformers, so it is not imported for one (0.4 s of start-up)."""
    if is_onnx_dir(model):
        return nullcontext()
    return quiet_libraries("transformers")
