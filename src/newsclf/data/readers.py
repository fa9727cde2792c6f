"""Reading text tables, in one place: the file formats newsclf reads, and one chunked reader
for every command (training, evaluation, `predict --file` and `predict --file --output`).

    raw = open_table(Path("train.csv"), "utf-8")    # header detected, nothing read whole
    for chunk in raw.chunks():                       # DataFrames of at most CHUNK_ROWS rows
        ...

CSV/TSV, JSON lines and Parquet are read a chunk at a time, so a file of any size is never held
in memory; a JSON array is read whole (it cannot be read in pieces). Each chunk's index counts
data rows from 0 across the whole file, so an error can name the row. Any file may be gzipped.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import paths
from newsclf.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# The one table of file formats: a file's suffix (before an optional .gz) -> its format.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
# Rows per chunk: bounds the parser's transient memory (docs/training.md, "Large data").
CHUNK_ROWS = 50_000
# A cell that holds a whole number, as CSV text: such a label column holds class ids.
INTEGER = r"-?\d+"

Chunks = Callable[[int, Sequence[str] | None], Iterator["pd.DataFrame"]]


def stem_and_format(file: Path) -> tuple[str, str | None]:
    """A file's name without its suffixes, and its format (None: not a table format)."""
    name = file.name[:-3] if file.name.endswith(".gz") else file.name
    stem, dot, ext = name.rpartition(".")
    return (stem, FORMATS.get((dot + ext).lower())) if dot else (name, None)


def file_format(path: Path) -> str | None:
    """'csv', 'tsv', 'json', 'jsonl', 'parquet', or None (plain text: one text per line)."""
    return stem_and_format(path)[1]


def integer_cells(cells: pd.Series) -> pd.Series:
    """Which text cells hold a whole number (the one test of it, for every reader)."""
    return cells.astype(str).str.strip().str.fullmatch(INTEGER)


@dataclass
class RawTable:
    """A table as read: its column names, where it came from, and its rows a chunk at a time.

    `chunks()` reads the file again each time it is iterated; `numeric_labels` says the cells
    were read as text (CSV), so a label column of integers still has to become integers."""

    columns: list[str]
    attrs: dict[str, str]
    read: Chunks
    numeric_labels: bool = False

    def chunks(
        self, rows: int | None = None, columns: Sequence[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """DataFrames of at most `rows` rows (default CHUNK_ROWS; only `columns`, if given),
        in file order."""
        for chunk in self.read(rows or CHUNK_ROWS, columns):
            chunk.attrs.update(self.attrs)
            yield chunk

    @classmethod
    def whole(cls, df: pd.DataFrame, source: str) -> RawTable:
        """A table already in memory (a Hub split, a JSON array), cut into chunks on demand."""
        df.attrs["source"] = source

        def read(rows: int, columns: Sequence[str] | None) -> Iterator[pd.DataFrame]:
            part = df if columns is None else df[list(columns)]
            for start in range(0, max(len(part), 1), rows):
                yield part.iloc[start : start + rows]

        return cls([str(c) for c in df.columns], dict(df.attrs), read)

    def frame(self) -> pd.DataFrame:
        """The whole table in memory."""
        import pandas as pd

        df = pd.concat(list(self.chunks()))
        df = numeric_labels(df) if self.numeric_labels else df
        df.attrs.update(self.attrs)
        return df


def open_table(
    path: Path, encoding: str = "utf-8", header: bool | None = None, columns: Sequence[str] = ()
) -> RawTable:
    """One table file. CSV/TSV files without a header row are detected (or `header=False`);
    `columns` are the names a header row would hold, which tells a header from data."""
    paths.check_readable_file(path, "Data file")
    fmt = file_format(path)
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type; expected one of {', '.join(FORMATS)} (optionally .gz)."
        )
    with read_errors(path, fmt, encoding):
        if fmt in SEPARATORS:
            return _open_csv(path, fmt, encoding, header, columns)
        if fmt == "parquet":
            return _open_parquet(path)
        if fmt == "jsonl":
            return _open_jsonl(path, encoding)
        return _open_json(path, encoding)


def _no_rows(path: Path) -> DataError:
    return DataError(f"{path} holds no rows. Expected a header and at least one row per class.")


@contextmanager
def read_errors(path: Path, fmt: str, encoding: str) -> Iterator[None]:
    """Reading errors as one clear DataError: when a file is opened, and while its later
    chunks are read."""
    import pandas as pd

    try:
        yield
    except UnicodeDecodeError as err:
        raise DataError(paths.not_decodable(path, err, encoding, flag="--encoding")) from None
    except DataError:
        raise
    except (ValueError, pd.errors.ParserError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: could not be read as {fmt}: {first_line}") from None


def _reading(path: Path, fmt: str, encoding: str, chunks: Chunks) -> Chunks:
    """`chunks` with read errors reported as for the first chunk."""

    def read(rows: int, columns: Sequence[str] | None) -> Iterator[pd.DataFrame]:
        with read_errors(path, fmt, encoding):
            yield from chunks(rows, columns)

    return read


def _open_csv(
    path: Path, fmt: str, encoding: str, header: bool | None, columns: Sequence[str]
) -> RawTable:
    """A CSV whose first row is a header, or data (detected from the first chunk, or
    `header=False`). The original AG News CSV has no header: class (1-4), title, description.
    """
    import pandas as pd

    sep = SEPARATORS[fmt]
    try:
        raw = next(_csv_chunks(path, sep, encoding, CHUNK_ROWS))
    except (pd.errors.EmptyDataError, StopIteration):
        raise _no_rows(path) from None
    first = [str(c).strip() for c in raw.iloc[0]]
    detected = header is None and _first_row_is_data(raw, first, columns)
    attrs = {"source": str(path)}
    if header is False or detected:
        names, skip = _headerless_names(raw, columns), 0
        how = "detected: its first row reads as data; pass --header if it is not"
        how = how if detected else "--no-header"
        attrs["note"] = f"{path.name} has no header row ({how}): columns read as {names}"
    else:
        names, skip = _header_names(path, first), 1
        if len(raw) == 1:  # a header and no rows
            raise _no_rows(path)

    def chunks(rows: int, wanted: Sequence[str] | None) -> Iterator[pd.DataFrame]:
        usecols = None if wanted is None else sorted(names.index(c) for c in wanted)
        for chunk in _csv_chunks(path, sep, encoding, rows, usecols):
            chunk = chunk.iloc[skip:] if chunk.index[0] == 0 else chunk
            chunk.columns = [names[i] for i in (usecols or range(len(names)))]
            chunk.index = chunk.index - skip  # data rows count from 0
            yield chunk

    return RawTable(list(names), attrs, _reading(path, fmt, encoding, chunks), numeric_labels=True)


def _header_names(path: Path, first: list[str]) -> list[str]:
    twice = sorted({c for c in first if first.count(c) > 1})
    if twice:
        raise DataError(
            f"{path}: the header names column(s) {twice} more than once (header: {first}). "
            "Give each column its own name."
        )
    return first


def _csv_chunks(
    path: Path, sep: str, encoding: str, rows: int, usecols: list[int] | None = None
) -> Iterator[pd.DataFrame]:
    """The one CSV reader: every cell as text, the header row (if any) as row 0."""
    import pandas as pd

    # In chunks: the parser holds each chunk as Python strings before they become columns,
    # and the chunks are consumed one at a time, so a file is never in memory whole.
    reader = pd.read_csv(
        path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, header=None,
        usecols=usecols, chunksize=rows,
    )  # fmt: skip
    with reader:
        yield from reader


def _first_row_is_data(raw: pd.DataFrame, first: list[str], columns: Sequence[str]) -> bool:
    """A header row names the columns; a first row of data does not, and its cells look like
    the rows below: a label that recurs in its column, an integer in a column of integers."""
    if len(raw) < 2 or set(first) & set(columns):
        return False
    rest = raw.iloc[1:]
    for j, cell in enumerate(first):
        below = rest.iloc[:, j].str.strip()
        if cell and (below == cell).any():
            return True
        if integer_cells(raw.iloc[:, j]).all():
            return True
    return False


def _headerless_names(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Names for the columns of a file without a header, as asked for where that is clear: one
    column is the text; two are the label (fewer distinct values) and the text; three with
    integers first are the AG News layout (label, title, description); else col1, col2, ...
    for --text-column and --label-column to pick from."""
    n = len(df.columns)
    text = columns[0] if 1 <= len(columns) <= 2 else "text"
    label = columns[-1] if len(columns) >= 2 else "label"
    first_is_int = integer_cells(df.iloc[:, 0]).all()
    if n == 1:
        return [text]
    if n == 3 and first_is_int:
        return [label, "title", "description"]
    if n == 2:
        distinct = [df.iloc[:, j].nunique() for j in (0, 1)]
        return [label, text] if first_is_int or distinct[0] < distinct[1] else [text, label]
    return [f"col{j + 1}" for j in range(n)]


def numeric_labels(df: pd.DataFrame) -> pd.DataFrame:
    """CSV columns were read as text; a column of integers (a label column of ids) becomes
    integers."""
    for column in df.columns:
        values = df[column].str.strip()
        if len(values) and integer_cells(values).all():
            df[column] = values.astype(int)
    return df


def _open_jsonl(path: Path, encoding: str) -> RawTable:
    import pandas as pd

    def chunks(rows: int, wanted: Sequence[str] | None) -> Iterator[pd.DataFrame]:
        reader = pd.read_json(path, lines=True, encoding=encoding, chunksize=rows)
        with reader:
            for chunk in reader:  # the index already counts rows across chunks
                yield chunk if wanted is None else chunk[list(wanted)]

    first = next(chunks(1, None), None)
    if first is None or first.empty:
        raise _no_rows(path)
    attrs = {"source": str(path)}
    return RawTable(
        [str(c) for c in first.columns], attrs, _reading(path, "jsonl", encoding, chunks)
    )


def _open_json(path: Path, encoding: str) -> RawTable:
    import pandas as pd

    try:
        df = pd.read_json(path, encoding=encoding)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    if df.empty:
        raise _no_rows(path)
    return RawTable.whole(df, str(path))


def _open_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    if file.metadata.num_rows == 0:
        raise _no_rows(path)

    def chunks(rows: int, wanted: Sequence[str] | None) -> Iterator[pd.DataFrame]:
        start = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=wanted):
            chunk = batch.to_pandas()
            chunk.index = range(start, start + len(chunk))
            start += len(chunk)
            yield chunk

    attrs = {"source": str(path)}
    return RawTable(file.schema_arrow.names, attrs, _reading(path, "parquet", "utf-8", chunks))


def text_chunks(path: Path, column: str, rows: int) -> Iterator[list[str]]:
    """Texts to classify, `rows` at a time, in file order: a column of a table file, else one
    text per line of a plain text file. Empty cells come back as ''."""
    if file_format(path) is None:
        yield from _line_chunks(path, rows)
        return
    raw = open_table(path, "utf-8", None, (column,))
    if column not in raw.columns:
        raise DataError(f"{path} has no column {column!r}: found {raw.columns[:20]}. Use --column.")
    for chunk in raw.chunks(rows, [column]):
        yield ["" if _missing(v) else str(v) for v in chunk[column].tolist()]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN


def _line_chunks(path: Path, rows: int) -> Iterator[list[str]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    chunk: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            for line in fh:
                chunk.append(line.rstrip("\r\n"))
                if len(chunk) == rows:
                    yield chunk
                    chunk = []
    except UnicodeDecodeError as err:
        raise DataError(paths.not_decodable(path, err)) from None
    if chunk:
        yield chunk


def count_rows(path: Path) -> int | None:
    """Data rows, for a progress bar: a fast newline count (None where it cannot be had)."""
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
    return max(lines - (fmt in SEPARATORS), 0)
