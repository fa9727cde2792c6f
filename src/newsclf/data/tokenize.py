"""Tokenizing, and the padded width of a batch: the rules training and inference share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

# Batches pad to a multiple of 8: tensor cores take matrix sizes in multiples of 8.
PAD_MULTIPLE = 8


def round_up(n: int, multiple: int = PAD_MULTIPLE) -> int:
    """The smallest multiple of `multiple` that is >= n: the padded width of a batch."""
    return -(-n // multiple) * multiple


def tokenize(
    splits: datasets.Dataset | datasets.DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
) -> datasets.Dataset | datasets.DatasetDict:
    """Tokenize a split (or every split) once, batched, keeping `length` for length-grouped batches."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return splits.map(
        encode, batched=True, batch_size=1000, remove_columns=["text"], desc="Tokenizing"
    )
