"""Decision thresholds for multi-label models, tuned on the validation split.

A multi-label model gives each class a sigmoid probability; a class is predicted when its
probability reaches its threshold. `tune_thresholds` picks one threshold for all classes
(`global`, the one that maximises the run's metric) or one per class (`per-class`, each the one
that maximises that class's F1), from a fixed grid, the test split never looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsclf.evaluation.metrics import multilabel_score
from newsclf.task import DEFAULT_THRESHOLD, THRESHOLD_MODES

if TYPE_CHECKING:
    import numpy as np

# The candidates: 0.05 to 0.95 in steps of 0.01. Ties go to the one closest to 0.5.
GRID_STEPS = (5, 96)


def grid() -> np.ndarray:
    import numpy as np

    return np.arange(*GRID_STEPS) / 100


def threshold_curve(probs: np.ndarray, labels: np.ndarray, metric: str) -> np.ndarray:
    """`metric` at each grid threshold, applied to every class alike."""
    import numpy as np

    return np.array([multilabel_score(labels, probs >= t, metric) for t in grid()])


def tune_thresholds(
    probs: np.ndarray, labels: np.ndarray, mode: str, metric: str = "micro_f1"
) -> np.ndarray:
    """One threshold per class (all equal for `global`), chosen on these validation rows."""
    import numpy as np

    if mode not in THRESHOLD_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {THRESHOLD_MODES}")
    candidates = grid()
    best_global = candidates[_best(threshold_curve(probs, labels, metric), candidates)]
    thresholds = np.full(labels.shape[1], best_global)
    if mode == "per-class":
        per_class = _per_class_f1(probs, labels, candidates)  # [thresholds, classes]
        for c in np.flatnonzero(labels.sum(axis=0)):  # classes absent here keep the global one
            thresholds[c] = candidates[_best(per_class[:, c], candidates)]
    return thresholds


def _per_class_f1(probs: np.ndarray, labels: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    import numpy as np

    truth = labels.astype(bool)
    rows = []
    for t in candidates:
        predicted = probs >= t
        tp = (predicted & truth).sum(axis=0)
        wrong = (predicted ^ truth).sum(axis=0)  # false positives + false negatives
        rows.append(np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(len(tp)), where=tp > 0))
    return np.array(rows)


def _best(scores: np.ndarray, candidates: np.ndarray) -> int:
    """The index of the best score; among ties, the candidate closest to the default."""
    import numpy as np

    ties = np.flatnonzero(scores >= scores.max() - 1e-12)
    return int(ties[np.argmin(np.abs(candidates[ties] - DEFAULT_THRESHOLD))])
