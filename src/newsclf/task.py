"""The two tasks newsclf trains, in one place: single-label ("which one of these classes?") and
multi-label ("which of these tags apply?"), with the metrics that can choose a best epoch for
each and how a saved model says which task it was trained for.

A multi-label model's config.json has `problem_type: multi_label_classification` (so plain
`transformers.pipeline(..., top_k=None)` applies a sigmoid) and the decision thresholds tuned
on validation under THRESHOLDS_KEY, one per class name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsclf.errors import ConfigError

SINGLE_LABEL = "single-label"
MULTI_LABEL = "multi-label"
TASKS = ("auto", SINGLE_LABEL, MULTI_LABEL)
PROBLEM_TYPES = {
    SINGLE_LABEL: "single_label_classification",
    MULTI_LABEL: "multi_label_classification",
}
# The validation metrics that may choose the best epoch; the first is each task's default.
METRICS = {
    SINGLE_LABEL: ("accuracy", "macro_f1"),
    MULTI_LABEL: ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy"),
}
METRIC_NAMES = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "samples_f1": "samples-F1",
    "subset_accuracy": "subset accuracy",
}
THRESHOLD_MODES = ("global", "per-class")
THRESHOLDS_KEY = "newsclf_thresholds"  # config.json: {class name: threshold}
THRESHOLD_MODE_KEY = "newsclf_threshold_mode"
DEFAULT_THRESHOLD = 0.5  # a multi-label model saved without tuned thresholds
# config.json: the calibration folded into the output layer (newsclf.training.calibrate)
CALIBRATION_KEY = "newsclf_calibration"
CALIBRATIONS = ("auto", "none")


def check_task_settings(task: str, metric: str, thresholds: str, calibration: str = "auto") -> None:
    """The task, metric, threshold-mode and calibration values of a config (the task may still
    be 'auto')."""
    if calibration not in CALIBRATIONS:
        raise ConfigError(
            f"calibration={calibration!r}: expected {' or '.join(CALIBRATIONS)} (auto fits "
            "a temperature on validation after training)."
        )
    if task not in TASKS:
        raise ConfigError(f"task={task!r}: expected one of {', '.join(TASKS)}.")
    every = sorted({m for ms in METRICS.values() for m in ms})
    allowed = METRICS.get(task, tuple(every))
    if metric != "auto" and metric not in allowed:
        what = f"a {task} run" if task in METRICS else "a run"
        raise ConfigError(
            f"metric={metric!r}: for {what} expected auto or one of {', '.join(allowed)}."
        )
    if thresholds not in THRESHOLD_MODES:
        raise ConfigError(
            f"thresholds={thresholds!r}: expected {' or '.join(THRESHOLD_MODES)} (how the "
            "multi-label decision thresholds are tuned on validation)."
        )


def resolve_metric(metric: str, task: str) -> str:
    """The metric that chooses the best epoch: the task's default for 'auto'."""
    if metric == "auto":
        return METRICS[task][0]
    if metric not in METRICS[task]:
        raise ConfigError(
            f"metric={metric!r} does not apply to {task} data: expected auto or one of "
            f"{', '.join(METRICS[task])}."
        )
    return metric


@dataclass(frozen=True)
class ModelTask:
    """What a saved model's config says about its outputs."""

    label_names: list[str]
    multi_label: bool = False
    thresholds: list[float] | None = None  # multi-label only, one per class

    @classmethod
    def from_config(cls, config: dict[str, Any], label_names: list[str]) -> ModelTask:
        multi = config.get("problem_type") == PROBLEM_TYPES[MULTI_LABEL]
        if not multi:
            return cls(label_names)
        tuned = config.get(THRESHOLDS_KEY) or {}
        return cls(label_names, True, [float(tuned.get(n, DEFAULT_THRESHOLD)) for n in label_names])

    @property
    def task(self) -> str:
        return MULTI_LABEL if self.multi_label else SINGLE_LABEL
