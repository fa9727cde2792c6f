"""The accuracy options of a run (docs/accuracy.md): their rules, checked once.

Each option is a `TrainConfig` field that is off by default, so a run that names none of them
trains exactly as before: learning-rate schedule shape, layer-wise learning-rate decay, the
head's learning rate, label smoothing, R-Drop, multi-sample dropout, an average of the
weights (EMA or SWA) validated and saved in place of the last weights, and a model soup
(several fine-tuned members averaged).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from newsclf.errors import ConfigError
from newsclf.task import MULTI_LABEL


class AccuracyOptions(Protocol):
    """The fields these rules read: a `TrainConfig` (which imports this module, so it is not
    imported back)."""

    task: str
    epochs: int | str  # 'auto' until the run resolves it
    learning_rate: float
    lr_schedule: str
    layer_lr_decay: float
    head_lr_multiplier: float
    label_smoothing: float
    rdrop_alpha: float
    multi_sample_dropout: int
    ema_decay: float
    swa_epochs: int
    soup: int
    report_to: list[str] | None


# --lr-schedule: what the rate does after warmup, and transformers' name for that schedule.
LR_SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def check_accuracy_options(cfg: AccuracyOptions) -> None:
    """Refuse an out-of-range accuracy option, or two that cannot go together, naming the field,
    the value, what is expected and an example."""
    if cfg.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(
            f"lr_schedule={cfg.lr_schedule!r}: expected one of {', '.join(LR_SCHEDULES)}, "
            "e.g. 'cosine'."
        )
    _in_range(cfg, "layer_lr_decay", 0.0, 1.0, "in (0, 1], e.g. 0.9 (1 turns it off)", low=False)
    if not (math.isfinite(cfg.head_lr_multiplier) and 0 < cfg.head_lr_multiplier <= 1000):
        raise ConfigError(
            f"head_lr_multiplier={cfg.head_lr_multiplier!r}: expected a number in (0, 1000], "
            "e.g. 10 (1, the default, trains the head at --learning-rate)."
        )
    if cfg.head_lr_multiplier * cfg.learning_rate >= 1:
        raise ConfigError(
            f"head_lr_multiplier={cfg.head_lr_multiplier!r} with learning_rate="
            f"{cfg.learning_rate!r} gives the head a rate of 1 or more: expected a product "
            "below 1, e.g. 10 x 1e-4."
        )
    _in_range(cfg, "label_smoothing", 0.0, 1.0, "in [0, 1), e.g. 0.1 (0 turns it off)", high=False)
    if not (math.isfinite(cfg.rdrop_alpha) and cfg.rdrop_alpha >= 0):
        raise ConfigError(
            f"rdrop_alpha={cfg.rdrop_alpha!r}: expected a finite number >= 0, e.g. 1.0 "
            "(0 turns R-Drop off)."
        )
    if not 1 <= cfg.multi_sample_dropout <= 64:
        raise ConfigError(
            f"multi_sample_dropout={cfg.multi_sample_dropout!r}: expected a whole number from 1 "
            "to 64, e.g. 5 (1 turns it off)."
        )
    if cfg.rdrop_alpha > 0 and cfg.multi_sample_dropout > 1:
        raise ConfigError(
            f"rdrop_alpha={cfg.rdrop_alpha!r} with multi_sample_dropout="
            f"{cfg.multi_sample_dropout!r}: both draw several dropout masks per batch; expected "
            "one of them, e.g. multi_sample_dropout=1."
        )
    _check_averaging(cfg)
    _check_soup(cfg)
    if cfg.task == MULTI_LABEL:
        check_loss_options_task(cfg, multi_label=True)


def check_loss_options_task(cfg: AccuracyOptions, multi_label: bool) -> None:
    """The loss options are written for softmax cross-entropy: refuse them on multi-label data
    (named by --task, or found by --task auto once the labels are read)."""
    given = [
        f"{name}={getattr(cfg, name)!r}"
        for name, off in (
            ("label_smoothing", 0.0),
            ("rdrop_alpha", 0.0),
            ("multi_sample_dropout", 1),
        )
        if getattr(cfg, name) != off
    ]
    if multi_label and given:
        raise ConfigError(
            f"{', '.join(given)} with multi-label data: label smoothing, R-Drop and multi-sample "
            "dropout change the single-label cross-entropy only. Leave them off for multi-label "
            "(the weight averages and learning-rate options apply to both tasks)."
        )


def _check_averaging(cfg: AccuracyOptions) -> None:
    if cfg.ema_decay != 0:
        _in_range(cfg, "ema_decay", 0.0, 1.0, "in (0, 1), e.g. 0.99 (0 turns it off)", high=False)
    if cfg.swa_epochs and isinstance(cfg.epochs, str):
        raise ConfigError(
            f"swa_epochs={cfg.swa_epochs!r} with epochs={cfg.epochs!r}: SWA averages the last "
            "epochs of a fixed budget. Pass --epochs N as well (e.g. --epochs 4 --swa-epochs 1)."
        )
    if not 0 <= cfg.swa_epochs <= (cfg.epochs if isinstance(cfg.epochs, int) else 0):
        raise ConfigError(
            f"swa_epochs={cfg.swa_epochs!r}: expected a whole number from 0 to epochs="
            f"{cfg.epochs}, e.g. 1 (the last epoch; 0 turns it off)."
        )
    if cfg.ema_decay and cfg.swa_epochs:
        raise ConfigError(
            f"ema_decay={cfg.ema_decay!r} with swa_epochs={cfg.swa_epochs!r}: expected one "
            "average of the weights, e.g. swa_epochs=0."
        )


MAX_SOUP = 16


def _check_soup(cfg: AccuracyOptions) -> None:
    if not 1 <= cfg.soup <= MAX_SOUP:
        raise ConfigError(
            f"soup={cfg.soup!r}: expected a whole number from 1 to {MAX_SOUP}, e.g. 4 (1 turns "
            "it off)."
        )
    if cfg.soup > 1 and cfg.report_to:
        raise ConfigError(
            f"soup={cfg.soup!r} with report_to={cfg.report_to!r}: a tracker logs one training's "
            "steps and a soup runs several. Expected one of them, e.g. leave --report-to unset."
        )


def _in_range(
    cfg: AccuracyOptions, name: str, lo: float, hi: float, expected: str, low=True, high=True
) -> None:
    """`lo < value < hi`, with `lo` allowed unless `low` is False and `hi` allowed unless `high`
    is False (the names say which end is closed: `low=True` means `lo` itself passes)."""
    value: Any = getattr(cfg, name)
    above = value >= lo if low else value > lo
    below = value <= hi if high else value < hi
    if not (math.isfinite(value) and above and below):
        raise ConfigError(f"{name}={value!r}: expected a number {expected}.")
