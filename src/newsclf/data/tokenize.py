"""Tokenizing, and the padded width of a batch: the rules training and inference share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsclf.reading import TRUNCATE, Reading, TextReader

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedTokenizerBase

# Batches pad to a multiple of 8: tensor cores take matrix sizes in multiples of 8.
PAD_MULTIPLE = 8
DOC_COLUMN = "doc"  # a window's text: its row in the split (several windows under `chunks`)


def round_up(n: int, multiple: int = PAD_MULTIPLE) -> int:
    """The smallest multiple of `multiple` that is >= n: the padded width of a batch."""
    return -(-n // multiple) * multiple


def tokenize(
    splits: datasets.Dataset | datasets.DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    reading: Reading | int,
) -> datasets.Dataset | datasets.DatasetDict:
    """Tokenize a split (or every split) once, batched, as the model reads its texts
    (`newsclf.reading`; a number: truncated at that many tokens). One row per window: under
    `chunks` a long text gives several, each with the text's label and its row in DOC_COLUMN.
    `length` is kept for length-grouped batches."""
    if not isinstance(reading, Reading):
        reading = Reading(TRUNCATE, reading)
    reader = TextReader.from_transformers(tokenizer, reading)
    masks = [n for n in ("token_type_ids", "attention_mask") if n in tokenizer.model_input_names]

    def encode(batch: dict[str, list], rows: list[int]) -> dict[str, list]:
        windows = reader.read(batch["text"])
        doc = windows.doc.tolist()
        out = {name: [batch[name][i] for i in doc] for name in batch if name != "text"}
        out["input_ids"] = windows.ids
        for name in masks:
            out[name] = [[int(name == "attention_mask")] * len(ids) for ids in windows.ids]
        out["length"] = windows.lengths.tolist()
        out[DOC_COLUMN] = [rows[i] for i in doc]
        return out

    columns = splits.column_names
    names = next(iter(columns.values())) if isinstance(columns, dict) else columns
    return splits.map(
        encode, batched=True, batch_size=1000, with_indices=True, remove_columns=names,
        desc="Tokenizing",
    )  # fmt: skip
