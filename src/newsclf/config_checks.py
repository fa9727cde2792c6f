"""The checks of TrainConfig's values that take more than a line: each raises ConfigError
naming the field, the value and the fix. `TrainConfig.validate` (config.py) is the one place
that calls them."""

from __future__ import annotations

import math
from typing import Any, Protocol

from newsclf.errors import ConfigError
from newsclf.reading import check_long_texts
from newsclf.task import SINGLE_LABEL, check_task_settings

# The value of a recipe field (epochs, max_length, eval_every) chosen from the data at the start
# of the run (newsclf.training.recipe); the saved config.yaml holds the number chosen.
AUTO = "auto"
MIN_EVAL_EVERY = 0.01


class Checked(Protocol):
    """The config these checks read: a `TrainConfig` (which imports this module, so it is not
    imported back); each check reads the fields it names."""

    def __getattr__(self, name: str) -> Any: ...


def check_fractions(cfg: Checked) -> None:
    for name in ("val_fraction", "test_fraction"):
        value = getattr(cfg, name)
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{name}={value!r}: expected a number in (0, 1), e.g. 0.1.")
    if cfg.val_fraction + cfg.test_fraction >= 0.9:
        raise ConfigError(
            f"val_fraction={cfg.val_fraction} + test_fraction={cfg.test_fraction} leave "
            "under 10% of the rows to train on: expected a sum below 0.9, e.g. 0.1 each."
        )
    if not 0.0 <= cfg.warmup_ratio < 1.0:
        raise ConfigError(f"warmup_ratio={cfg.warmup_ratio!r}: expected a number in [0, 1).")


def check_recipe(cfg: Checked) -> None:
    """epochs and max_length: a whole number >= 1 or 'auto'; eval_every: a share of an epoch."""
    for name in ("epochs", "max_length"):
        if isinstance(value := getattr(cfg, name), str) and value != AUTO:
            raise ConfigError(f"{name}={value!r}: expected a whole number >= 1, or 'auto'.")
        if value != AUTO:
            require_positive(value, name)
    check_long_texts(cfg.long_texts, cfg.stride, cfg.max_length)
    if (value := cfg.eval_every) == AUTO:
        return
    if isinstance(value, str) or not (math.isfinite(value) and MIN_EVAL_EVERY <= value <= 1):
        raise ConfigError(
            f"eval_every={value!r}: expected a share of an epoch from {MIN_EVAL_EVERY} to 1 "
            "(e.g. 0.5: validate twice an epoch), or 'auto'."
        )


def check_multi_label(cfg: Checked) -> None:
    check_task_settings(cfg.task, cfg.metric, cfg.thresholds, cfg.calibration)
    if cfg.label_columns is not None and cfg.task == SINGLE_LABEL:
        raise ConfigError(
            f"label_columns={cfg.label_columns!r} with task='single-label': 0/1 columns are "
            "multi-label data. Pass --task multi-label (or auto), or --label-column instead."
        )
    if cfg.label_columns is not None and len(set(cfg.label_columns)) != len(cfg.label_columns):
        raise ConfigError(f"label_columns={cfg.label_columns!r}: name each column once.")
    if not cfg.label_sep or cfg.label_sep != cfg.label_sep.strip():
        raise ConfigError(
            f"label_sep={cfg.label_sep!r}: expected a separator without spaces around it, "
            "e.g. '|' or ';'."
        )


def check_optimizer(cfg: Checked) -> None:
    if not 0 < cfg.learning_rate < 1:
        raise ConfigError(
            f"learning_rate={cfg.learning_rate!r}: expected a positive number below 1, e.g. 1e-4."
        )
    for name in ("weight_decay", "max_grad_norm"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name}={value!r}: expected a finite number >= 0.")


def require_positive(value: Any, name: str) -> None:
    """Refuse anything but a whole number >= 1 (a batch size, a count)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}={value!r}: expected a whole number >= 1.")


def positive(cfg: Checked, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not (optional and value is None):
            require_positive(value, name)
