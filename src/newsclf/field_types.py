"""The config's field types: what each accepts, the lossless conversions from YAML and flags
(`1e-4` as a string, `3.0` for a whole number, `a,b` for a list), the type check, and the
ranges of the plain numeric fields (shares of the data, optimizer settings)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Protocol

from newsclf.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# What each field type accepts, as said in messages.
EXPECTED = {
    "int": "a whole number, e.g. 2",
    "int | None": "a whole number, or null",
    "int | str": "a whole number, e.g. 2, or 'auto'",
    "float | str": "a number, e.g. 0.5, or 'auto'",
    "float": "a number, e.g. 0.1",
    "str": "a string",
    "str | None": "a string, or null",
    "bool": "true or false",
    "bool | None": "true, false, or null",
    "list[str] | None": "a list of strings, e.g. [World, Sports], or null",
}


def check_field_types(cfg: DataclassInstance) -> None:
    """Refuse a field whose value is not of its annotated type, naming field, value and type."""
    for f in dataclasses.fields(cfg):
        value, kind = getattr(cfg, f.name), str(f.type)
        if not _has_type(value, kind):
            raise ConfigError(
                f"{f.name}={value!r} ({type(value).__name__}): expected {EXPECTED[kind]}."
            )


def _has_type(value: Any, kind: str) -> bool:
    if value is None:
        return kind.endswith("| None")
    if kind.endswith("| str") and isinstance(value, str):  # a number, or a word such as 'auto'
        return True
    base = kind.removesuffix(" | None").removesuffix(" | str")
    if base == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if base == "int":
        return isinstance(value, int)
    if base == "float":
        return isinstance(value, (int, float))
    if base == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def convert_value(value: Any, kind: str) -> Any:
    """The lossless conversions only; anything else is left for validate() to refuse."""
    base = kind.removesuffix(" | None").removesuffix(" | str")
    if value is None or isinstance(value, bool):
        return value
    if base == "float" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if base == "float" and kind.endswith("| str") and isinstance(value, int):
        return float(value)
    if base == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if base == "int" and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if base == "str" and isinstance(value, (int, float)):
        return str(value)
    if base == "list[str]" and isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    if base == "list[str]" and isinstance(value, list):
        return [
            str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value
        ]
    return value


class NumericSettings(Protocol):
    """The fields the range checks read: a `TrainConfig` (which imports this module)."""

    val_fraction: float
    test_fraction: float
    warmup_ratio: float
    learning_rate: float
    weight_decay: float
    max_grad_norm: float


def check_fractions(cfg: NumericSettings) -> None:
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


def check_optimizer(cfg: NumericSettings) -> None:
    if not 0 < cfg.learning_rate < 1:
        raise ConfigError(
            f"learning_rate={cfg.learning_rate!r}: expected a positive number below 1, e.g. 1e-4."
        )
    for name in ("weight_decay", "max_grad_norm"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name}={value!r}: expected a finite number >= 0.")
