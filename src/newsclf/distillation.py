"""The rules of a distilled run (`newsclf distill`, or `train --distill-from`), checked once.

A student keeps some of its teacher's encoder layers and learns from the teacher's logits as
well as the labels (Hinton et al. 2015; DistilBERT, Sanh et al. 2019, built its student from
every other teacher layer). Which layers it keeps is decided here, so the command, the training
and the tests agree on it.
"""

from __future__ import annotations

import math
from typing import Protocol

from newsclf.errors import ConfigError

# The loss mix: alpha x T^2 x KL(teacher || student) at temperature T, plus (1 - alpha) x the
# labels' loss. What the defaults measured against other mixes: docs/performance.md.
DEFAULT_ALPHA = 0.5
DEFAULT_TEMPERATURE = 2.0
# Columns a distilled run adds to its training rows; the loaders pass them on to the loss.
TEACHER_COLUMN = "teacher_logits"
LABELED_COLUMN = "labeled"  # 1: a row of the training split; 0: an unlabeled text
# The column of the unlabeled texts in a table file given to --unlabeled-data.
UNLABELED_COLUMN = "text"


class DistillationOptions(Protocol):
    """The fields these rules read: a `TrainConfig` (which imports this module)."""

    distill_from: str | None
    student_layers: int | None
    distill_alpha: float
    distill_temperature: float
    unlabeled_data: str | None
    label_smoothing: float
    rdrop_alpha: float
    multi_sample_dropout: int
    soup: int


def student_layer_ids(teacher_layers: int, student_layers: int) -> list[int]:
    """The teacher layers (from 0) a student of `student_layers` keeps: evenly spaced, the
    first and the last always kept (Shleifer & Rush 2020: the bottom layer reads the
    embeddings, the top one feeds the head), halves rounded up. 6 -> 3: [0, 3, 5];
    12 -> 6: [0, 2, 4, 7, 9, 11]; one layer: the last."""
    if not 1 <= student_layers <= teacher_layers:
        raise ConfigError(
            f"student_layers={student_layers}: the teacher has {teacher_layers} encoder layers; "
            f"expected 1 to {teacher_layers} (e.g. {max(teacher_layers // 2, 1)})."
        )
    if student_layers == 1:
        return [teacher_layers - 1]
    step = (teacher_layers - 1) / (student_layers - 1)
    return [math.floor(i * step + 0.5) for i in range(student_layers)]


def default_student_layers(teacher_layers: int) -> int:
    """Half the teacher's layers, as DistilBERT halved BERT's."""
    return max(teacher_layers // 2, 1)


def check_distillation(cfg: DistillationOptions) -> None:
    """The distillation fields: each in range, and only together with a teacher."""
    if cfg.distill_from is None:
        given = [
            f"{name}={getattr(cfg, name)!r}"
            for name in ("student_layers", "unlabeled_data")
            if getattr(cfg, name) is not None
        ]
        if given:
            raise ConfigError(
                f"{', '.join(given)} without distill_from: a student needs a teacher. Pass "
                "--distill-from runs/NAME (or use `newsclf distill runs/NAME`)."
            )
        return
    if not 0.0 <= cfg.distill_alpha <= 1.0:
        raise ConfigError(
            f"distill_alpha={cfg.distill_alpha!r}: expected the teacher's share of the loss, "
            f"from 0 (labels only) to 1 (teacher only), e.g. {DEFAULT_ALPHA}."
        )
    if not (math.isfinite(cfg.distill_temperature) and cfg.distill_temperature > 0):
        raise ConfigError(
            f"distill_temperature={cfg.distill_temperature!r}: expected a positive number, "
            f"e.g. {DEFAULT_TEMPERATURE} (1: the teacher's own probabilities)."
        )
    if cfg.student_layers is not None and cfg.student_layers < 1:
        raise ConfigError(f"student_layers={cfg.student_layers!r}: expected a whole number >= 1.")
    others = [
        f"{name}={getattr(cfg, name)!r}"
        for name, off in (
            ("label_smoothing", 0.0), ("rdrop_alpha", 0.0), ("multi_sample_dropout", 1), ("soup", 1)
        )
        if getattr(cfg, name) != off
    ]  # fmt: skip
    if others:
        raise ConfigError(
            f"{', '.join(others)} with distill_from: a student's loss is the teacher's and the "
            "labels' (docs/performance.md, Distillation); these options change the loss or "
            "train several members. Leave them off when distilling."
        )
