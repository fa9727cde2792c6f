"""The config's field types: what each accepts, the lossless conversions from YAML and flags
(`1e-4` as a string, `3.0` for a whole number, `a,b` for a list), and the type check."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

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
