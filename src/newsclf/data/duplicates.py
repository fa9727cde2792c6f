"""Repeated texts, in one place: the folding that makes two texts "the same", the rows of one
split that also occur in another (training's leak check, counted in data.json), and the groups
of duplicate rows `newsclf audit` lists.

Two texts are exact duplicates when they are equal as read (the reader strips the ends); near-
exact when they are equal after case folding and collapsing every run of whitespace to one
space. Training's check keeps each text as a 64-bit hash of its folded form (8 bytes a row, a
chance below 1 in 10^7 that two different texts of a million-row split collide); the audit,
which holds the texts anyway, groups them by a 16-byte digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets
    import numpy as np

# Rows hashed at a time when a split's texts are read back from disk.
HASH_BATCH = 10_000
# The pairs of splits whose shared rows training counts: (the split checked, the split it is
# checked against).
OVERLAPS = (("test", "train"), ("validation", "train"), ("test", "validation"))


def fold(text: str) -> str:
    """The near-exact form of a text: case-folded, whitespace runs collapsed to one space."""
    return " ".join(text.casefold().split())


def digest(text: str) -> bytes:
    """The 16-byte fingerprint of a text's folded form."""
    return hashlib.blake2b(fold(text).encode("utf-8"), digest_size=16).digest()


def split_hashes(split: datasets.Dataset) -> np.ndarray:
    """Every row's folded text as a 64-bit hash (8 bytes a row, so a million-row split costs
    8 MB), read from the split's `text` column a batch at a time."""
    import numpy as np

    parts = [np.zeros(0, dtype=np.uint64)]
    for batch in split.iter(batch_size=HASH_BATCH):
        texts = batch["text"]
        parts.append(np.fromiter((_hash64(t) for t in texts), np.uint64, count=len(texts)))
    return np.concatenate(parts)


def _hash64(text: str) -> int:
    folded = fold(text).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(folded, digest_size=8).digest(), "little")


def overlap_counts(splits: datasets.DatasetDict) -> dict[str, int]:
    """Rows of a split whose text (folded) also occurs in another: `test_in_train`,
    `validation_in_train`, `test_in_validation`."""
    import numpy as np

    hashes = {name: split_hashes(splits[name]) for name in splits}
    counts = {}
    for checked, against in OVERLAPS:
        if checked in hashes and against in hashes:
            shared = np.isin(hashes[checked], hashes[against])
            counts[f"{checked}_in_{against}"] = int(shared.sum())
    return counts


def overlap_note(counts: dict[str, int]) -> str | None:
    """Training's one-line warning when test rows also occur in train."""
    shared = counts.get("test_in_train", 0)
    if not shared:
        return None
    rows = "1 test row also occurs" if shared == 1 else f"{shared:,} test rows also occur"
    return (
        f"{rows} in train (same text after case and whitespace folding), so the test score "
        "is partly not held out; `newsclf audit` lists them."
    )


@dataclass
class DuplicateGroup:
    """Rows sharing one folded text: where each is, and whether their labels agree."""

    members: list[tuple[str, int]] = field(default_factory=list)  # (split, row)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # each member's label, as written

    @property
    def exact(self) -> bool:
        return len(set(self.texts)) == 1

    @property
    def conflicting(self) -> bool:
        return len(set(self.labels)) > 1

    @property
    def splits(self) -> list[str]:
        return sorted({split for split, _ in self.members})


def duplicate_groups(
    rows: Iterable[tuple[str, int, str, str]],
) -> list[DuplicateGroup]:
    """Groups of two or more rows with the same folded text, from (split, row, text, label)
    tuples; in the order their first rows came. Labels are compared as given strings (a
    multi-label row's tags joined in a fixed order)."""
    groups: dict[bytes, DuplicateGroup] = {}
    for split, row, text, label in rows:
        group = groups.setdefault(digest(text), DuplicateGroup())
        group.members.append((split, row))
        group.texts.append(text)
        group.labels.append(label)
    return [g for g in groups.values() if len(g.members) > 1]


def count_duplicates(groups: Sequence[DuplicateGroup]) -> dict[str, int]:
    """What the audit summary says about duplicates."""
    within = [g for g in groups if len(g.splits) == 1]
    return {
        "groups": len(groups),
        "rows_in_groups": sum(len(g.members) for g in groups),
        "exact_groups": sum(g.exact for g in groups),
        "near_exact_groups": sum(not g.exact for g in groups),
        "groups_within_one_split": len(within),
        "groups_across_splits": len(groups) - len(within),
        "conflicting_groups": sum(g.conflicting for g in groups),
    }
