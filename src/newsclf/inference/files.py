"""Classifying the texts of a file: `predict --file` (the texts read, then classified like
TEXT arguments) and `predict --file --output` (streamed to a CSV: any file size).

    newsclf predict runs/demo/best_model --file big.csv --output predictions.csv

Both read the file with the one chunked reader (`newsclf.data.readers.text_chunks`): a column
of a CSV/TSV/JSON/JSONL/Parquet table (optionally gzipped), or plain text, one text per line.

Streaming, the output has one row per text: `row,label,score,p_<class>...`, or for a
multi-label model `row,labels,p_<class>...` (`labels`: the tags at or above their thresholds,
joined by '|'). Each chunk is classified in length-sorted batches and its rows are written in input
order. The output is written under a hidden temporary name beside it and renamed only once
complete, so an interrupted run never leaves a partial file under the final name. Rows whose
text is empty are skipped; the `row` column (the input's data row, counted from 0 like a
pandas index) keeps every output row joinable with its input. Under `accelerate launch`, every
process reads the same chunks and scores its shard of each (`ShardedInference`); the main
process writes all rows, in input order, and the others write and show nothing.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from newsclf.data.readers import count_rows, file_format, text_chunks
from newsclf.distributed import launched
from newsclf.errors import DataError
from newsclf.inference.sharded import ShardedInference
from newsclf.paths import check_readable_file
from newsclf.texts import check_texts

if TYPE_CHECKING:
    import numpy as np

    from newsclf.inference.classifier import Classifier, Inference, Prediction

# Rows read and classified at a time when streaming: bounds memory whatever the file's size.
CHUNK_ROWS = 4096


def read_texts(path: str | Path, column: str = "text") -> list[str]:
    """Texts from a file: a column of a table, else one per line.

    Blank lines of a text file separate texts and are skipped; a blank table cell is refused
    with its row number, like any other blank text."""
    path = Path(path)
    check_readable_file(path, "--file")
    texts = [text for chunk in text_chunks(path, column, CHUNK_ROWS) for text in chunk]
    if file_format(path) is None:
        return [line.strip() for line in texts if line.strip()]
    cells = [text.strip() for text in texts]
    return check_texts(cells, f"{path}, column {column!r}, row")


@dataclass
class FilePredictions:
    output: Path
    rows_read: int
    rows_written: int
    skipped_empty: int
    # False on the other processes under `accelerate launch`: they scored, the main one wrote.
    main_process: bool = True


class _Scorer(Protocol):
    label_names: list[str]

    def infer(self, texts: list[str], batch_size: int | None = None) -> Inference: ...

    def prediction(self, probabilities: np.ndarray) -> Prediction: ...


class _Rows(Protocol):
    def writerow(self, row: list[object]) -> object: ...


def predict_file(
    classifier: Classifier,
    path: str | Path,
    output: str | Path,
    column: str = "text",
    batch_size: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool | None = None,
) -> FilePredictions:
    """Write a row of predictions for every non-empty text of `path` to `output` (the columns:
    see the module's docstring).

    `progress=None` shows a progress bar only when stderr is a terminal.
    """
    from tqdm.auto import tqdm

    path, output = Path(path), Path(output)
    check_readable_file(path, "--file")
    if output.resolve() == path.resolve():
        raise DataError(f"--output {output} is the input file; choose another name.")
    counts = FilePredictions(output, 0, 0, 0)
    scorer: _Scorer = classifier
    if launched():
        scorer = ShardedInference(classifier, batch_size)
        if not scorer.is_main_process:  # the same chunks scored, nothing written
            for chunk in text_chunks(path, column, chunk_rows):
                _score_chunk(_NoRows(), scorer, chunk, counts, None)
            counts.main_process = False
            return counts
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh, tqdm(
            total=count_rows(path), unit=" rows", desc="Predicting", disable=not show
        ) as bar:  # fmt: skip
            writer = csv.writer(fh)
            answer = ["labels"] if classifier.multi_label else ["label", "score"]
            writer.writerow(["row", *answer, *(f"p_{name}" for name in classifier.label_names)])
            for chunk in text_chunks(path, column, chunk_rows):
                _score_chunk(writer, scorer, chunk, counts, batch_size)
                bar.update(len(chunk))
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return counts


class _NoRows:
    def writerow(self, row: list[object]) -> None:
        pass


def _score_chunk(
    writer: _Rows, scorer: _Scorer, chunk: list[str], counts: FilePredictions,
    batch_size: int | None,
) -> None:  # fmt: skip
    start = counts.rows_read
    keep = [(start + i, text) for i, text in enumerate(chunk) if text.strip()]
    counts.rows_read += len(chunk)
    counts.skipped_empty += len(chunk) - len(keep)
    if not keep:
        return
    probs = scorer.infer([text for _, text in keep], batch_size=batch_size).probabilities
    for (row, _), p in zip(keep, probs, strict=True):
        pred = scorer.prediction(p)
        answer = (
            ["|".join(pred.labels)]
            if pred.labels is not None
            else [pred.label, f"{pred.score:.6f}"]
        )
        writer.writerow([row, *answer, *(f"{x:.6f}" for x in pred.probabilities.values())])
    counts.rows_written += len(keep)
