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

_Adder = argparse._ActionsContainer  # a parser, or one group of its options
# Each backend has its measured default (docs/performance.md).
MODEL_HELP = "a run's best_model/ (or the run dir), or a directory written by newsclf export"
BATCH_HELP = "texts per batch (default: 32 on a CPU, 256 on a GPU, 32 on ONNX Runtime)"
COMMON = "the options most runs need"
# `newsclf train --help`, in this order: every TrainConfig field in one group (a test checks).
FLAG_GROUPS = {
    COMMON: ("data", "text_column", "label_column", "name", "epochs", "model"),
    "data": (
        "validation_data", "test_data", "label_names", "encoding", "header", "val_fraction",
        "test_fraction", "max_train_samples", "max_eval_samples", "max_test_samples",
    ),
    "model and recipe": (
        "max_length", "long_texts", "stride", "eval_every", "batch_size", "eval_batch_size",
        "learning_rate", "weight_decay", "warmup_ratio", "max_grad_norm", "grad_accum",
        "class_weights", "patience", "metric", "calibration", "seed",
    ),
    "outputs": ("output_dir", "overwrite", "visuals", "quiet", "save_every", "keep_checkpoints"),
    "multi-label (docs/data.md#multi-label)": ("task", "label_sep", "label_columns", "thresholds"),
    "accuracy options (docs/accuracy.md; each off by default)": (
        "lr_schedule", "layer_lr_decay", "head_lr_multiplier", "label_smoothing", "rdrop_alpha",
        "multi_sample_dropout", "ema_decay", "swa_epochs", "soup",
    ),
    "distillation (newsclf distill; docs/performance.md#distillation)": (
        "distill_from", "student_layers", "distill_alpha", "distill_temperature", "unlabeled_data",
    ),
    "performance": ("precision", "group_by_length", "compile", "num_workers"),
    "tracking (docs/experiments.md)": ("report_to", "tracking_uri", "log_every"),
}  # fmt: skip
# Keys of a parsed namespace that are not config fields.
NOT_CONFIG = ("config", "func", "command", "resume", "trials", "timeout", "space", "storage")


def add_config_flags(
    p: argparse.ArgumentParser,
    only: Sequence[str] | None = None,
    common: argparse._ArgumentGroup | None = None,
    hidden: bool = False,
) -> None:
    """One flag per TrainConfig field (`--learning-rate`, `--no-visuals`, ...), with its help:
    in the groups of `FLAG_GROUPS` (`common`: the group of the common ones, which the command
    may have opened with flags of its own); `only`: just these fields, ungrouped (`newsclf
    audit` takes the data flags); `hidden`: parsed but not listed (`newsclf tune`)."""
    defaults = TrainConfig()
    by_name = {f.name: f for f in dataclasses.fields(TrainConfig)}
    if only is not None:
        for name in only:
            _add_field(p, by_name[name], getattr(defaults, name), hidden)
        return
    for title, names in FLAG_GROUPS.items():
        group = common if common is not None and title == COMMON else p.add_argument_group(title)
        for name in names:
            _add_field(group, by_name[name], getattr(defaults, name), hidden)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config: --config's YAML, with the flags given on top."""
    overrides = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
    if getattr(args, "config", None):
        return TrainConfig.from_yaml(args.config, **overrides)
    return TrainConfig.from_dict(overrides)


def field_help(f: dataclasses.Field, default: object) -> str:
    """A field's help with its default said once: the help's own "Default: ..." where the
    default is decided at run time or is no value, else "(default: X)" after it."""
    return with_default(f.metadata.get("help", ""), default)


def with_default(text: str, default: object) -> str:
    """`text` and "(default: X)", unless the default is no value or the text says it."""
    if default is None or default is False or "default:" in text.lower():
        return text
    return f"{text} (default: {default})"


def _add_field(p: _Adder, f: dataclasses.Field, default: object, hidden: bool) -> None:
    flag = "--" + f.name.replace("_", "-")
    help_text = argparse.SUPPRESS if hidden else field_help(f, default).replace("%", "%%")
    kind = str(f.type)
    choices = f.metadata.get("choices")
    words = {"int": "N", "float": "X", "list[str] | None": "A,B"}
    metavar = words.get(kind.split(" |")[0], words.get(kind, f.name.split("_")[-1].upper()))
    if choices:
        metavar = "{" + ",".join(choices) + "}"
    if kind in ("bool", "bool | None"):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    elif kind.startswith("list[str]"):
        p.add_argument(
            flag, type=lambda s: [x.strip() for x in s.split(",")], metavar=metavar,
            help=help_text,
        )  # fmt: skip
    elif kind.endswith("| str"):  # a number or 'auto'
        number = {"int": int, "float": float}[kind.split(" |")[0]]
        metavar = "{N,auto}" if number is int else "{X,auto}"
        p.add_argument(flag, type=_number_or_word(number), metavar=metavar, help=help_text)
    else:
        cast = {"int": int, "float": float}.get(kind.split(" |")[0], str)
        p.add_argument(flag, type=cast, metavar=metavar, help=help_text)


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
