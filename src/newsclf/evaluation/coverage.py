"""Accuracy against coverage: how right the model is when it answers only its most confident
texts, and the confidence that reaches a target accuracy (`newsclf evaluate --target-accuracy`).

A row's confidence is the abstention rule's (`newsclf.inference.abstention`): the top
probability, or for multi-label the least certain tag decision; "right" is the top class
(single-label) or the whole tag set (multi-label: subset accuracy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsclf.errors import ConfigError
from newsclf.inference.abstention import confidence

if TYPE_CHECKING:
    import numpy as np

    from newsclf.inference import Inference

COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.5)


def confidence_and_correct(
    inference: Inference, labels: np.ndarray | list
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's confidence and whether its answer is right."""
    import numpy as np

    truth, predicted = np.asarray(labels), inference.predicted
    correct = (predicted == truth).all(axis=1) if truth.ndim == 2 else predicted == truth
    return confidence(inference.probabilities, inference.thresholds), correct


def accuracy_coverage(
    conf: np.ndarray, correct: np.ndarray, coverages: tuple[float, ...] = COVERAGES
) -> list[dict[str, Any]]:
    """For each coverage: accuracy on the most confident share of rows, how many that is, and
    the confidence of the least confident row answered (the --min-confidence that gives it;
    ties can let a few more rows in)."""
    import numpy as np

    order = np.argsort(-np.asarray(conf), kind="stable")
    ranked, hits = np.asarray(conf)[order], np.asarray(correct, float)[order]
    rows = []
    for share in coverages:
        n = int(np.ceil(share * len(order)))
        rows.append({
            "coverage": share,
            "answered": n,
            "accuracy": round(float(hits[:n].mean()), 5) if n else None,
            "min_confidence": round(float(ranked[n - 1]), 5) if n else None,
        })  # fmt: skip
    return rows


def confidence_for_accuracy(conf: np.ndarray, correct: np.ndarray, target: float) -> float | None:
    """The lowest --min-confidence whose answered rows reach `target` accuracy here (so the
    most rows are answered); None when no confidence reaches it."""
    import numpy as np

    order = np.argsort(-np.asarray(conf), kind="stable")
    ranked, hits = np.asarray(conf)[order], np.asarray(correct, float)[order]
    running = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    # Only cut between different confidences: a threshold answers every row tied at it.
    cut = np.append(ranked[1:] < ranked[:-1], True)
    good = np.flatnonzero((running >= target) & cut)
    return float(ranked[good[-1]]) if len(good) else None


def answered_at(conf: np.ndarray, correct: np.ndarray, min_confidence: float) -> dict[str, Any]:
    """The share of rows at or above `min_confidence`, and the accuracy on them."""
    import numpy as np

    answered = np.asarray(conf) >= min_confidence
    n = int(answered.sum())
    return {
        "min_confidence": round(min_confidence, 6),
        "coverage": round(n / len(answered), 5) if len(answered) else None,
        "answered": n,
        "accuracy": round(float(np.asarray(correct)[answered].mean()), 5) if n else None,
    }


def check_target_accuracy(target: float) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise ConfigError(
            f"target_accuracy={target!r}: expected an accuracy above 0 and at most 1, e.g. 0.97."
        )
    return float(target)
