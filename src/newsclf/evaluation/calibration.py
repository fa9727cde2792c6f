"""Calibration: how far a model's probabilities are from how often it is right, and the maps
that bring them closer, fitted on the validation split (docs/trust.md).

Single-label: one temperature T for all classes (Guo et al. 2017): probabilities are
softmax(logits / T), the T that minimises the validation log loss. Dividing every logit by the
same positive number never changes which class is largest, so accuracy is untouched.
Multi-label: a scale and an offset per tag (Platt scaling): sigmoid(a * logit + b), with Platt's
smoothed targets so that a tag the model separates perfectly on validation still gets a finite
scale.

Measured here: expected calibration error (ECE, 15 equal-width bins: the share-weighted gap
between mean confidence and accuracy) and log loss. For multi-label, every (text, tag)
probability counts as one binary prediction (bins of p, against how often the tag is true).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ECE_BINS = 15
# Temperatures searched: a model 100 times over- or under-confident is beyond repair here.
TEMPERATURE_RANGE = (0.01, 100.0)
PLATT_SCALE_RANGE = (1e-3, 100.0)


def calibration_words(info: dict[str, Any]) -> str:
    """What a calibration fitted, as the run, the report and `newsclf calibrate` say it:
    'temperature 1.417', or 'a scale and offset per tag'."""
    if "temperature" in info:
        return f"temperature {info['temperature']:.3f}"
    return "a scale and offset per tag"


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the log loss of softmax(logits / T) on these rows.

    The loss is convex in 1/T, so a bounded scalar search over log(1/T) finds its one
    minimum; no learning rate or step count to tune."""
    import numpy as np
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    rows = np.arange(len(labels))

    def loss(log_inverse: float) -> float:
        return -float(log_softmax(logits * np.exp(log_inverse), axis=1)[rows, labels].mean())

    low, high = TEMPERATURE_RANGE
    found = minimize_scalar(
        loss, bounds=(-np.log(high), -np.log(low)), method="bounded", options={"xatol": 1e-7}
    )
    return float(np.exp(-found.x))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tag, the (scale, offset) that minimise the log loss of sigmoid(scale * logit +
    offset) against Platt's smoothed targets. A tag without both a positive and a negative
    row here keeps (1, 0): there is nothing to fit it on."""
    import numpy as np

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    scales, offsets = np.ones(logits.shape[1]), np.zeros(logits.shape[1])
    for c in range(logits.shape[1]):
        positives = int(labels[:, c].sum())
        if 0 < positives < len(labels):
            scales[c], offsets[c] = _platt_one(logits[:, c], labels[:, c], positives)
    return scales, offsets


def _platt_one(z: np.ndarray, y: np.ndarray, positives: int) -> tuple[float, float]:
    import numpy as np
    from scipy.optimize import minimize

    negatives = len(y) - positives
    target = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = params
        s = a * z + b
        loss = np.logaddexp(0, s) - target * s  # binary cross-entropy with logits
        g = 0.5 * (1 + np.tanh(0.5 * s)) - target
        return float(loss.mean()), np.array([(g * z).mean(), g.mean()])

    found = minimize(
        loss_and_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
        bounds=[PLATT_SCALE_RANGE, (None, None)],
    )  # fmt: skip
    return float(found.x[0]), float(found.x[1])


def calibration_scores(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> dict[str, float]:
    """ECE and log loss of probabilities [N, C] against class ids [N] (single-label) or a
    0/1 matrix [N, C] (multi-label)."""
    confidence, hit = _pairs(probabilities, labels)
    return {
        "ece": round(expected_calibration_error(confidence, hit, bins), 5),
        "log_loss": round(log_loss(probabilities, labels), 5),
    }


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Sum over equal-width bins of (share of rows) x |mean confidence - accuracy|."""
    table = reliability(confidence, correct, bins)
    total = sum(table["count"])
    return float(
        sum(
            n / total * abs(c - a)
            for n, c, a in zip(table["count"], table["confidence"], table["accuracy"], strict=True)
            if n
        )
        if total
        else 0.0
    )


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per bin of confidence ((0, 1/bins], ...): rows, mean confidence, accuracy (None where
    empty). The reliability diagram draws it; ECE sums it."""
    import numpy as np

    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    out: dict[str, Any] = {"bins": bins, "count": [], "confidence": [], "accuracy": []}
    for b in range(bins):
        rows = index == b
        n = int(rows.sum())
        out["count"].append(n)
        out["confidence"].append(round(float(confidence[rows].mean()), 5) if n else None)
        out["accuracy"].append(round(float(correct[rows].mean()), 5) if n else None)
    return out


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (single-label), or mean binary
    cross-entropy over every (text, tag) (multi-label); probabilities clipped at 1e-12."""
    import numpy as np

    p, y = np.clip(np.asarray(probabilities, float), 1e-12, 1 - 1e-12), np.asarray(labels)
    if y.ndim == 2:
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y)), y]).mean()) if len(y) else 0.0


def reliability_of(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """The reliability table of probabilities against labels (see `calibration_scores`)."""
    return reliability(*_pairs(probabilities, labels), bins)


def _pairs(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, hit) pairs: the top probability and whether it was right (single-label);
    each tag's probability and whether the tag is true (multi-label)."""
    import numpy as np

    p, y = np.asarray(probabilities, float), np.asarray(labels)
    if y.ndim == 2:
        return p.ravel(), y.ravel().astype(float)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
