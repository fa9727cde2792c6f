"""The search space of `newsclf tune`: which config fields are searched, over what ranges.

A space is a mapping of TrainConfig fields to distributions, in YAML:

    learning_rate: {type: float, low: 1.0e-5, high: 5.0e-4, log: true}
    batch_size: {type: categorical, choices: [16, 32, 64]}
    epochs: {type: int, low: 1, high: 4}

Every field must be a config field, and every value in range must make a valid config: both
are checked before the first trial, with one line naming the field and the fix.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.config import TrainConfig
from newsclf.errors import ConfigError
from newsclf.task import MULTI_LABEL
from newsclf.yaml_file import read_yaml

if TYPE_CHECKING:
    import optuna

Space = dict[str, dict[str, Any]]

# Searched when no space is given: the optimiser's knobs, and for multi-label data how the
# decision thresholds are tuned.
DEFAULT_SPACE: Space = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 5e-4, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "epochs": {"type": "int", "low": 1, "high": 4},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
}
MULTI_LABEL_SPACE: Space = {
    "thresholds": {"type": "categorical", "choices": ["global", "per-class"]}
}
KINDS = ("float", "int", "categorical")


def default_space(task: str) -> Space:
    return {**DEFAULT_SPACE, **(MULTI_LABEL_SPACE if task == MULTI_LABEL else {})}


def read_space(path: str | Path) -> Space:
    """A space from a YAML file, checked for its shape (ranges are checked by `check_space`)."""
    values = read_yaml(Path(path), "Search space file")
    for name, spec in values.items():
        _check_spec(str(name), spec, Path(path))
    return {str(name): spec for name, spec in values.items()}


def _check_spec(name: str, spec: Any, where: Path) -> None:
    example = "e.g. {type: float, low: 1.0e-5, high: 5.0e-4, log: true}"
    if not isinstance(spec, dict) or spec.get("type") not in KINDS:
        raise ConfigError(
            f"{where}: {name}: {spec!r} is not a distribution: expected a mapping with type "
            f"{', '.join(KINDS)}, {example}. Fix the file."
        )
    if spec["type"] == "categorical":
        if not isinstance(spec.get("choices"), list) or not spec["choices"]:
            raise ConfigError(
                f"{where}: {name}: a categorical needs a non-empty list of choices, e.g. "
                "{type: categorical, choices: [16, 32]}. Fix the file."
            )
        return
    low, high = spec.get("low"), spec.get("high")
    if (
        not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        or not low < high
    ):
        raise ConfigError(
            f"{where}: {name}: low={low!r}, high={high!r}: expected two numbers with low < high, "
            f"{example}. Fix the file."
        )


def check_space(space: Space, base: TrainConfig) -> None:
    """Every field searched is a config field, and every bound or choice is a valid value."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if base.soup > 1 or "soup" in space:
        raise ConfigError(
            f"soup={base.soup!r}{' (searched)' if 'soup' in space else ''}: a search prunes "
            "trials by their epochs, and a soup's members each run their own. Expected soup=1 "
            "for `newsclf tune`; train the best trial's config with --soup N afterwards."
        )
    for name, spec in space.items():
        if name not in fields:
            raise ConfigError(
                f"search space field {name!r} is not a config field; expected names among "
                f"{', '.join(sorted(fields))}. Fix the search space."
            )
        values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
        for value in values:
            try:
                TrainConfig.from_dict({**base.to_dict(), name: value})
            except ConfigError as err:
                raise ConfigError(
                    f"search space: {name}={value!r} makes a bad config: {err}"
                ) from None


def sample(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """One point of the space, drawn by the trial's sampler."""
    drawn = {}
    for name, spec in space.items():
        if spec["type"] == "categorical":
            drawn[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            drawn[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        else:
            drawn[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
    return drawn
