"""Splits, in one place: carving validation and test out of train, and sampling rows, both
stratified by class and seeded, so the same seed picks the same rows on any machine.

Single-label rows are stratified by their class (scikit-learn); multi-label rows (a 0/1
matrix, rows x classes) by iterative stratification (Sechidis et al. 2011, the
`iterative-stratification` package), which keeps each tag's share in every split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsclf.data.multilabel import check_train_tags
from newsclf.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np


@dataclass
class Split:
    """A split on its way to a Dataset: its texts on disk (one memory-mapped `text` column)
    and its class ids in memory (what splitting and sampling look at)."""

    texts: datasets.Dataset
    labels: np.ndarray  # class ids [N], or a 0/1 matrix [N, classes] for multi-label

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, positions: np.ndarray) -> Split:
        from datasets.fingerprint import generate_random_fingerprint

        # A fingerprint given: datasets would otherwise hash the whole list of positions.
        texts = self.texts.select(positions, new_fingerprint=generate_random_fingerprint())
        return Split(texts, self.labels[positions])


def check_train(train: Split, label_names: list[str]) -> None:
    if train.labels.ndim == 2:
        check_train_tags(train.labels, label_names)
        return
    present = sorted(set(train.labels.tolist()))
    if len(present) < 2:
        only = [label_names[i] for i in present]
        raise DataError(
            f"The training split has a single class {only}: a classifier needs at least two. "
            "Check --label-column, or the file you passed."
        )


def stratified_split(
    table: Split, fraction: float, seed: int, split: str, flag: str
) -> tuple[Split, Split]:
    """Hold out `fraction` of `table` for `split`: stratified and seeded."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    if table.labels.ndim == 2:
        kept, held_out = _iterative_split(table.labels, fraction, seed)
        return table.take(kept), table.take(held_out)
    counts = np.unique(table.labels, return_counts=True)[1]
    n_out = math.ceil(fraction * len(table))
    # Stratify where every class can appear on both sides; tiny data falls back to a random split.
    can_stratify = counts.min() >= 2 and len(counts) <= min(n_out, len(table) - n_out)
    try:
        kept, held_out = train_test_split(
            np.arange(len(table)),
            test_size=fraction,
            random_state=seed,
            stratify=table.labels if can_stratify else None,
        )
    except ValueError as err:
        raise DataError(
            f"Cannot carve a {split} split of {fraction:.0%} out of {len(table)} training rows: "
            f"{err}. Add rows, change --{flag}-fraction, or pass --{split}-data FILE."
        ) from None
    return table.take(kept), table.take(held_out)


def subsample(table: Split, limit: int | None, seed: int) -> Split:
    if limit is None:
        return table
    return table.take(stratified_sample(table.labels, limit, seed))


def stratified_sample(labels: Sequence[int], limit: int, seed: int) -> np.ndarray:
    """Sorted positions of `limit` rows (all rows if fewer), keeping each class's share, seeded.

    The one sampler for `max_*_samples` and the t-SNE points. Where a class is too rare to
    appear on both sides of the cut, it falls back to a plain seeded sample.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    positions = np.arange(len(labels))
    if limit >= len(labels):
        return positions
    if labels.ndim == 2:
        return _iterative_split(labels, limit, seed)[1]
    counts = np.unique(labels, return_counts=True)[1]
    can_stratify = counts.min() >= 2 and len(counts) <= min(limit, len(labels) - limit)
    kept, _ = train_test_split(
        positions, train_size=limit, random_state=seed, stratify=labels if can_stratify else None
    )
    return np.sort(kept)


def _iterative_split(labels: np.ndarray, held_out: float | int, seed: int) -> tuple:
    """Sorted positions (kept, held out) of a multi-label 0/1 matrix, by iterative
    stratification; `held_out` is a share of the rows or a number of them."""
    import numpy as np
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=held_out, random_state=seed)
    kept, out = next(splitter.split(np.zeros(len(labels)), labels))
    return np.sort(kept), np.sort(out)
