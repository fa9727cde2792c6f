"""Confident learning (Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels"), written out: from out-of-sample probabilities, which rows'
given labels are likely wrong, and what they likely should be.

1. Per class j, a threshold t_j: the mean probability of j over the rows labelled j.
2. The confident joint C[i, j]: rows labelled i whose probability of j is at least t_j (the
   most probable such j when several are); rows above no threshold are not counted.
3. Calibrated: each row of C scaled to the count of label i, the whole to the number of rows.
4. Pruned by noise rate: for every i != j, the round(C[i, j]) rows labelled i with the largest
   margin p_j - p_i are flagged; a row whose most probable class is its given label is not.
5. Ranked by self-confidence: `score` = 1 - p(given label), the chance the label is wrong.

Multi-label: each tag is audited as its own two-class problem (tag absent or present), so a
row can have a tag likely missing or likely wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Probabilities within this of a threshold count as reaching it (float rounding).
EPSILON = 1e-6


@dataclass
class LabelIssues:
    """Rows whose given labels confident learning flags, most likely first."""

    rows: np.ndarray  # positions of the flagged rows, ranked by score (highest first)
    scores: np.ndarray  # [N]: 1 - p(given label), for every row (multi-label: worst tag)
    suggested: np.ndarray  # [N] class ids, or the [N, C] 0/1 matrix for multi-label
    joint: np.ndarray  # the calibrated confident joint [C, C] ([C, 2, 2] per tag)
    thresholds: np.ndarray  # [C] per-class thresholds ([C, 2] per tag)

    def ranking(self) -> np.ndarray:
        """Every row, most likely mislabelled first (ties kept in row order)."""
        import numpy as np

        return np.argsort(-self.scores, kind="stable")


def per_class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over the rows labelled j (1.0 for an absent class,
    which then never collects rows)."""
    import numpy as np

    k = probs.shape[1]
    return np.array(
        [probs[labels == j, j].mean() if (labels == j).any() else 1.0 for j in range(k)]
    )


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated confident joint C[given, likely true] (floats summing to N) and the
    thresholds it was counted with."""
    import numpy as np

    n, k = probs.shape
    thresholds = per_class_thresholds(labels, probs)
    above = probs >= thresholds - EPSILON
    likely = np.where(above, probs, -np.inf).argmax(axis=1)
    counted = above.any(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (labels[counted], likely[counted]), 1.0)
    label_counts = np.bincount(labels, minlength=k).astype(float)
    row_sums = joint.sum(axis=1)
    scale = np.divide(label_counts, row_sums, out=np.zeros(k), where=row_sums > 0)
    calibrated = joint * scale[:, None]
    total = calibrated.sum()
    return (calibrated * (n / total) if total else calibrated), thresholds


def round_rows(joint: np.ndarray) -> np.ndarray:
    """Whole counts that keep each row's rounded total: floors, then one more for the largest
    remainders."""
    import numpy as np

    floors = np.floor(joint).astype(int)
    short = np.rint(joint.sum(axis=1)).astype(int) - floors.sum(axis=1)
    order = np.argsort(-(joint - floors), axis=1, kind="stable")
    for i, missing in enumerate(short):
        floors[i, order[i, : max(int(missing), 0)]] += 1
    return floors


def flag_by_noise_rate(labels: np.ndarray, probs: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """The flagged rows' mask: per off-diagonal (i, j), the round(C[i, j]) rows labelled i
    with the largest p_j - p_i; never a row whose most probable class is its label."""
    import numpy as np

    n, k = probs.shape
    counts = round_rows(joint)
    flagged = np.zeros(n, dtype=bool)
    for i in range(k):
        given_i = np.flatnonzero(labels == i)
        if not len(given_i):
            continue
        # Keep at least one row of each class: never flag all of them.
        budget = len(given_i) - 1
        for j in range(k):
            take = min(counts[i, j], budget) if j != i else 0
            if take <= 0:
                continue
            budget -= take
            margin = probs[given_i, j] - probs[given_i, i]
            flagged[given_i[np.argsort(-margin, kind="stable")[:take]]] = True
    flagged &= probs.argmax(axis=1) != labels
    return flagged


def find_label_issues(labels: np.ndarray, probs: np.ndarray) -> LabelIssues:
    """Confident learning on single-label rows: `labels` [N] class ids, `probs` [N, C]
    out-of-sample probabilities (rows summing to 1)."""
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    joint, thresholds = confident_joint(labels, probs)
    flagged = flag_by_noise_rate(labels, probs, joint)
    scores = 1.0 - probs[np.arange(len(labels)), labels]
    rows = np.flatnonzero(flagged)
    rows = rows[np.argsort(-scores[rows], kind="stable")]
    return LabelIssues(rows, scores, probs.argmax(axis=1), joint, thresholds)


def find_tag_issues(tags: np.ndarray, probs: np.ndarray) -> LabelIssues:
    """Confident learning on multi-label rows, one tag at a time: `tags` the [N, C] 0/1 matrix,
    `probs` [N, C] out-of-sample probabilities of each tag. `suggested` is the tag matrix with
    every flagged tag flipped; a row's score is that of its most doubtful tag."""
    import numpy as np

    tags = np.asarray(tags, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n, k = tags.shape
    suggested = tags.copy()
    joints, thresholds = np.zeros((k, 2, 2)), np.zeros((k, 2))
    for c in range(k):
        two = np.stack([1.0 - probs[:, c], probs[:, c]], axis=1)
        issues = find_label_issues(tags[:, c], two)
        suggested[issues.rows, c] = 1 - tags[issues.rows, c]
        joints[c], thresholds[c] = issues.joint, issues.thresholds
    doubt = np.abs(tags - probs)  # 1 - p(the given state of each tag)
    changed = (suggested != tags).any(axis=1)
    # A row's score: its most doubtful flagged tag if any, else its most doubtful tag.
    scores = np.where(changed, np.where(suggested != tags, doubt, 0).max(axis=1), doubt.max(1))
    rows = np.flatnonzero(changed)
    rows = rows[np.argsort(-scores[rows], kind="stable")]
    return LabelIssues(rows, scores, suggested, joints, thresholds)
