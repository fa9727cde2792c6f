"""Saying "not sure": an answer's confidence, and the rule for `--min-confidence` (docs/trust.md).

Single-label: the confidence of an answer is its top class's probability; below
`min_confidence` the answer has no label (it abstains), and the probabilities are still given.

Multi-label: a text with no tag at or above its threshold already answers "no tag"; that is an
answer, not an abstention. The confidence of a tag set is that of its least certain decision:
a tag given is right with probability p, a tag left out with probability 1 - p, and the set's
confidence is the smallest of these over all tags. Below `min_confidence` the text abstains (no
tag set is given). With calibrated probabilities, "at least 0.9" then means every tag decision
is at least 90% likely to be right.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from newsclf.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


def confidence(probabilities: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Each row's confidence [N]: the top probability (single-label), or, with thresholds
    (multi-label), the smallest of p (tags given) and 1 - p (tags left out)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    if thresholds is None:
        return p.max(axis=1)
    decided = np.where(p >= np.asarray(thresholds), p, 1.0 - p)
    return decided.min(axis=1)


def check_min_confidence(value: float | None, name: str = "min_confidence") -> float | None:
    """None (always answer), or a probability in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r}: expected a probability from 0 to 1, e.g. 0.8.")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ConfigError(
            f"{name}={value!r}: expected a probability from 0 to 1 (e.g. 0.8: answer only "
            "when at least 80% sure)."
        )
    return float(value)
