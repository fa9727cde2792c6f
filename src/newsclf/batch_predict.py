"""Classify a large file into a CSV, streaming: memory stays bounded whatever the file's size.

    newsclf predict runs/demo/best_model --file big.csv --output predictions.csv

The input is read `chunk_rows` rows at a time (CSV/TSV/JSONL/Parquet, optionally gzipped, or
plain text with one text per line); each chunk is classified in length-sorted batches and its
rows are written in input order. The output is written under a hidden temporary name beside
it and renamed only once complete, so an interrupted run never leaves a partial file under
the final name. Rows whose text is empty are skipped; the `row` column (0-based data row of the
input) keeps every output row joinable with its input.

Under `accelerate launch`, every process reads the same chunks and scores its shard of each
(`ShardedInference`); the main process writes all rows, in input order, and the others write
and show nothing.
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import DataError
from newsclf.sharded import ShardedInference, launched

if TYPE_CHECKING:
    from newsclf.predict import Classifier

TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json",
                 ".parquet": "parquet"}  # fmt: skip


@dataclass
class FilePredictions:
    output: Path
    rows_read: int
    rows_written: int
    skipped_empty: int
    # False on the other processes under `accelerate launch`: they scored, the main one wrote.
    main_process: bool = True


def predict_file(
    classifier: Classifier,
    path: str | Path,
    output: str | Path,
    column: str = "text",
    batch_size: int | None = None,
    chunk_rows: int = 4096,
    progress: bool | None = None,
) -> FilePredictions:
    """Write `row,label,score,p_<class>...` for every non-empty text of `path` to `output`.

    `progress=None` shows a progress bar only when stderr is a terminal.
    """
    from tqdm.auto import tqdm

    path, output = Path(path), Path(output)
    if not path.is_file():
        raise DataError(f"--file {path} does not exist.")
    if output.resolve() == path.resolve():
        raise DataError(f"--output {output} is the input file; choose another name.")
    counts = FilePredictions(output, 0, 0, 0)
    scorer: Any = classifier
    if launched():
        scorer = ShardedInference(classifier, batch_size)
        if not scorer.is_main_process:
            return _score_without_writing(scorer, path, column, chunk_rows, counts)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh, tqdm(
            total=count_rows(path), unit=" rows", desc="Predicting", disable=not show
        ) as bar:  # fmt: skip
            writer = csv.writer(fh)
            labels = classifier.label_names
            writer.writerow(["row", "label", "score", *(f"p_{name}" for name in labels)])
            for chunk in read_chunks(path, column, chunk_rows):
                _write_chunk(writer, scorer, chunk, counts, batch_size)
                bar.update(len(chunk))
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _score_without_writing(
    scorer: ShardedInference, path: Path, column: str, chunk_rows: int, counts: FilePredictions
) -> FilePredictions:
    """A process other than the main one: the same chunks, its shard scored, nothing written."""
    for chunk in read_chunks(path, column, chunk_rows):
        _write_chunk(_NoWriter(), scorer, chunk, counts, None)
    counts.main_process = False
    return counts


class _NoWriter:
    def writerow(self, row: list[Any]) -> None:
        pass


def _write_chunk(
    writer: Any, classifier: Classifier | ShardedInference, chunk: list[str],
    counts: FilePredictions, batch_size: int | None,
) -> None:  # fmt: skip
    start = counts.rows_read
    keep = [(start + i, text) for i, text in enumerate(chunk) if text.strip()]
    counts.rows_read += len(chunk)
    counts.skipped_empty += len(chunk) - len(keep)
    if not keep:
        return
    probs = classifier.infer([text for _, text in keep], batch_size=batch_size).probabilities
    labels = classifier.label_names
    for (row, _), p in zip(keep, probs, strict=True):
        best = int(p.argmax())
        writer.writerow([row, labels[best], f"{p[best]:.6f}", *(f"{x:.6f}" for x in p)])
    counts.rows_written += len(keep)


def file_format(path: Path) -> str | None:
    """'csv', 'tsv', 'jsonl', 'json', 'parquet', or None for plain text (one text per line)."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return TABLE_FORMATS.get(Path(name).suffix.lower())


def read_chunks(path: Path, column: str, chunk_rows: int) -> Iterator[list[str]]:
    """Lists of at most `chunk_rows` texts, in file order, without reading the file whole."""
    fmt = file_format(path)
    try:
        if fmt is None:
            yield from _line_chunks(path, chunk_rows)
        elif fmt in ("csv", "tsv"):
            yield from _csv_chunks(path, "\t" if fmt == "tsv" else ",", column, chunk_rows)
        elif fmt == "parquet":
            yield from _parquet_chunks(path, column, chunk_rows)
        else:
            yield from _json_chunks(path, fmt == "jsonl", column, chunk_rows)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not valid UTF-8 at byte {err.start}. Re-save it as UTF-8."
        ) from None


def _open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _line_chunks(path: Path, chunk_rows: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    with _open_text(path) as fh:
        for line in fh:
            chunk.append(line.rstrip("\r\n"))
            if len(chunk) == chunk_rows:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _csv_chunks(path: Path, sep: str, column: str, chunk_rows: int) -> Iterator[list[str]]:
    import pandas as pd

    header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8")
    _check_column(path, column, [str(c) for c in header.columns])
    reader = pd.read_csv(
        path, sep=sep, usecols=[column], dtype=str, keep_default_na=False, chunksize=chunk_rows,
        encoding="utf-8",
    )  # fmt: skip
    with reader:
        for frame in reader:
            yield frame[column].tolist()


def _json_chunks(path: Path, lines: bool, column: str, chunk_rows: int) -> Iterator[list[str]]:
    import pandas as pd

    if not lines:  # a JSON array cannot be read in pieces; such files are small in practice
        frames = [pd.read_json(path, dtype=False)]
    else:
        frames = pd.read_json(path, lines=True, dtype=False, chunksize=chunk_rows)
    for frame in frames:
        _check_column(path, column, [str(c) for c in frame.columns])
        texts = ["" if v is None else str(v) for v in frame[column].tolist()]
        for start in range(0, len(texts), chunk_rows):
            yield texts[start : start + chunk_rows]


def _parquet_chunks(path: Path, column: str, chunk_rows: int) -> Iterator[list[str]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    _check_column(path, column, table.schema_arrow.names)
    for batch in table.iter_batches(batch_size=chunk_rows, columns=[column]):
        yield ["" if v is None else str(v) for v in batch.column(0).to_pylist()]


def _check_column(path: Path, column: str, found: list[str]) -> None:
    if column not in found:
        raise DataError(f"{path} has no column {column!r}: found {found[:20]}. Use --column.")


def count_rows(path: Path) -> int | None:
    """Data rows, for the progress bar: a fast newline count (None where it cannot be had)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "json":
        return None
    opener = gzip.open if path.name.endswith(".gz") else open
    newlines, last = 0, b"\n"
    with opener(path, "rb") as fh:
        while block := fh.read(1 << 20):
            newlines += block.count(b"\n")
            last = block[-1:]
    lines = newlines + (last != b"\n")
    # A quoted newline inside a CSV field makes this an overestimate; the bar then ends short.
    return max(lines - (fmt in ("csv", "tsv")), 0)
