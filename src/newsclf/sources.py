"""Where a dataset's rows come from: the bundled AG News rows, local files (CSV/TSV read a chunk
at a time, JSON, JSON lines, Parquet; a directory of train/validation/test files), or the Hub.

Each split comes back as a `RawTable`: its column names, its source, and its rows a chunk at a
time. Checking, mapping and splitting them is `newsclf.data`'s job.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import paths
from newsclf.errors import DataError, HubUnreachableError

if TYPE_CHECKING:
    import pandas as pd

    from newsclf.config import TrainConfig

AG_NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
# Column names a header row holds when --text-column and --label-column are not given.
DEFAULT_COLUMNS = ("text", "title", "description", "label")
BUNDLED = {"ag_news": ("train_subset.csv.gz", "test.csv.gz")}
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
# Rows per chunk when reading a CSV: bounds the parser's transient memory (docs/training.md).
CSV_CHUNK_ROWS = 50_000
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}


def read_source(cfg: TrainConfig) -> tuple[dict[str, RawTable], list[str] | None]:
    """Return the frames per split and the class names the source declares, if any."""
    if cfg.data in BUNDLED:
        return _read_bundled(cfg.data), list(AG_NEWS_LABELS)
    path = Path(cfg.data)
    if path.exists():
        return _read_local(path, cfg)
    looks_like_file = stem_and_format(path)[1] is not None or cfg.data.startswith((".", "/", "~"))
    if looks_like_file or cfg.data.count("/") > 1:
        raise DataError(paths.missing(path, "--data"))
    if "/" in cfg.data:
        return _read_hub(cfg.data)
    raise DataError(
        f"--data {cfg.data!r} is neither a bundled dataset ({', '.join(BUNDLED)}), an existing "
        "file or directory, nor a Hub id like 'fancyzhx/ag_news'. Check the spelling or the path."
    )


def bundled_path(name: str, filename: str) -> Path:
    return Path(str(resources.files("newsclf") / "datasets" / name / filename))


def _read_bundled(name: str) -> dict[str, RawTable]:
    train_file, test_file = BUNDLED[name]
    return {
        "train": open_table(bundled_path(name, train_file), "utf-8", None, DEFAULT_COLUMNS),
        "test": open_table(bundled_path(name, test_file), "utf-8", None, DEFAULT_COLUMNS),
    }


def _read_local(path: Path, cfg: TrainConfig) -> tuple[dict[str, RawTable], list[str] | None]:
    declared = _classes_txt(path if path.is_dir() else path.parent)
    if not path.is_dir():
        return {"train": open_table(path, cfg.encoding, cfg.header, wanted_columns(cfg))}, declared
    frames = {}
    for file in sorted(path.iterdir()):
        split = _split_of(file)
        if split and split not in frames:
            frames[split] = open_table(file, cfg.encoding, cfg.header, wanted_columns(cfg))
    if not frames:
        raise DataError(
            f"Directory {path} holds no train/validation/test files with a suffix among "
            f"{', '.join(SUFFIXES)} (found: {sorted(p.name for p in path.iterdir())[:10]}). Name "
            "them train.csv and test.csv (validation.csv optional), or pass one file with --data."
        )
    return frames, declared


def _split_of(file: Path) -> str | None:
    stem, suffix = stem_and_format(file)
    if suffix is None:
        return None
    for split, aliases in SPLIT_ALIASES.items():
        if stem.lower() in aliases:
            return split
    return None


def stem_and_format(file: Path) -> tuple[str, str | None]:
    name = file.name[:-3] if file.name.endswith(".gz") else file.name
    stem, dot, ext = name.rpartition(".")
    return (stem, SUFFIXES.get(dot + ext)) if dot else (name, None)


def _classes_txt(folder: Path) -> list[str] | None:
    """The original AG News CSV release declares its class names in classes.txt."""
    classes = folder / "classes.txt"
    if not classes.is_file():
        return None
    return [
        line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def wanted_columns(cfg: TrainConfig) -> tuple[str, ...]:
    """Column names a header row would hold: the ones asked for, or the defaults."""
    texts = [c.strip() for c in cfg.text_column.split(",")] if cfg.text_column else []
    return (*(texts or DEFAULT_COLUMNS[:3]), cfg.label_column)


@dataclass
class RawTable:
    """A table as read: its column names, where it came from, and its rows a chunk at a time.

    A CSV/TSV file is read `CSV_CHUNK_ROWS` rows at a time, each time `chunks()` is iterated,
    and never held whole; other formats are one chunk. Each chunk's index counts data rows
    from 0 across the whole file, so an error can name the row."""

    columns: list[str]
    attrs: dict[str, str]
    chunks: Callable[[], Iterator[pd.DataFrame]]
    numeric_labels: bool = False  # CSV cells are text: a label column of integers is ints

    @classmethod
    def whole(cls, df: pd.DataFrame, source: str) -> RawTable:
        df.attrs["source"] = source
        return cls([str(c) for c in df.columns], dict(df.attrs), lambda: iter([df]))

    def frame(self) -> pd.DataFrame:
        """The whole table in memory (small files: the texts of `newsclf predict --file`)."""
        import pandas as pd

        df = pd.concat(list(self.chunks()))
        df = numeric_labels(df) if self.numeric_labels else df
        df.attrs.update(self.attrs)
        return df


def read_table(
    path: Path, encoding: str, header: bool | None = None, columns: Sequence[str] = ()
) -> pd.DataFrame:
    """One table, whole; see `open_table`."""
    return open_table(path, encoding, header, columns).frame()


def open_table(
    path: Path, encoding: str, header: bool | None = None, columns: Sequence[str] = ()
) -> RawTable:
    """One table; CSV/TSV files without a header row are detected (or `header=False`)."""
    import pandas as pd

    paths.check_readable_file(path, "Data file")
    _, fmt = stem_and_format(path)
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)} (optionally .gz)."
        )
    with _read_errors(path, fmt, encoding):
        try:
            if fmt in ("csv", "tsv"):
                return _open_csv(path, "\t" if fmt == "tsv" else ",", encoding, header, columns)
            if fmt == "parquet":
                df = pd.read_parquet(path)
            else:
                df = pd.read_json(path, lines=fmt == "jsonl", encoding=encoding)
        except pd.errors.EmptyDataError:
            df = pd.DataFrame()
    if df.empty:
        raise _no_rows(path)
    return RawTable.whole(df, str(path))


def _no_rows(path: Path) -> DataError:
    return DataError(f"{path} holds no rows. Expected a header and at least one row per class.")


@contextmanager
def _read_errors(path: Path, fmt: str, encoding: str) -> Iterator[None]:
    """Reading errors as one clear DataError: when a file is opened, and for a CSV/TSV file
    also while its later chunks are read."""
    import pandas as pd

    try:
        yield
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: bytes that are not valid {encoding} at position {err.start}. Re-save the file "
            "as UTF-8, or pass --encoding (e.g. latin-1) if you know its encoding."
        ) from None
    except DataError:
        raise
    except (ValueError, pd.errors.ParserError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: could not be read as {fmt}: {first_line}") from None


def _csv_chunks(path: Path, sep: str, encoding: str) -> Iterator[pd.DataFrame]:
    import pandas as pd

    # In chunks: the parser holds each chunk as Python strings before they become Arrow-backed
    # columns, and the chunks are consumed one at a time, so a file is never in memory whole.
    reader = pd.read_csv(
        path,
        sep=sep,
        encoding=encoding,
        dtype=str,
        keep_default_na=False,
        header=None,
        chunksize=CSV_CHUNK_ROWS,
    )
    with reader:
        yield from reader


def _open_csv(
    path: Path, sep: str, encoding: str, header: bool | None, columns: Sequence[str]
) -> RawTable:
    """A CSV whose first row is a header, or data (detected from the first chunk, or
    `header=False`). The original AG News CSV has no header: class (1-4), title, description.
    """
    raw = next(_csv_chunks(path, sep, encoding))
    first = [str(c).strip() for c in raw.iloc[0]]
    detected = header is None and _first_row_is_data(raw, first, columns)
    attrs = {"source": str(path)}
    if header is False or detected:
        names, skip = _headerless_names(raw, columns), 0
        how = "detected: its first row reads as data; pass --header if it is not"
        how = how if detected else "--no-header"
        attrs["note"] = f"{path.name} has no header row ({how}): columns read as {names}"
    else:
        twice = sorted({c for c in first if first.count(c) > 1})
        if twice:
            raise DataError(
                f"{path}: the header names column(s) {twice} more than once (header: {first}). "
                "Give each column its own name."
            )
        names, skip = first, 1
        if len(raw) == 1:  # a header and no rows
            raise _no_rows(path)

    def chunks() -> Iterator[pd.DataFrame]:
        fmt = "tsv" if sep == "\t" else "csv"
        with _read_errors(path, fmt, encoding):
            for chunk in _csv_chunks(path, sep, encoding):
                chunk = chunk.iloc[skip:] if chunk.index[0] == 0 else chunk
                chunk.columns = names
                chunk.index = chunk.index - skip  # data rows count from 0
                chunk.attrs.update(attrs)
                yield chunk

    return RawTable(list(names), attrs, chunks, numeric_labels=True)


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
        if cell.lstrip("-").isdigit() and below.str.fullmatch(r"-?\d+").all():
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
    first_is_int = df.iloc[:, 0].str.strip().str.fullmatch(r"-?\d+").all()
    if n == 1:
        return [text]
    if n == 3 and first_is_int:
        return [label, "title", "description"]
    if n == 2:
        distinct = [df.iloc[:, j].nunique() for j in (0, 1)]
        return [label, text] if first_is_int or distinct[0] < distinct[1] else [text, label]
    return [f"col{j + 1}" for j in range(n)]


def numeric_labels(df: pd.DataFrame) -> pd.DataFrame:
    """CSV columns were read as text; a label column of integers should be integers."""
    for column in df.columns:
        values = df[column].str.strip()
        if len(values) and values.str.fullmatch(r"-?\d+").all():
            df[column] = values.astype(int)
    return df


def _read_hub(dataset_id: str) -> tuple[dict[str, RawTable], list[str] | None]:
    ensure_hub_reachable(
        f"dataset {dataset_id!r}", "--data ag_news (bundled) or --data path/to/train.csv"
    )
    import datasets

    try:
        dsd = datasets.load_dataset(dataset_id)
    except Exception as err:  # the Hub raises many types; the user needs one message
        raise DataError(f"Could not load dataset {dataset_id!r} from the Hub: {err}") from None
    declared = None
    for ds in dsd.values():
        for feature in ds.features.values():
            if isinstance(feature, datasets.ClassLabel):
                declared = list(feature.names)
    frames = {}
    for split, ds in dsd.items():
        for canonical, aliases in SPLIT_ALIASES.items():
            if split in aliases:
                frames[canonical] = RawTable.whole(ds.to_pandas(), f"{dataset_id} ({split})")
    return frames, declared


def ensure_hub_reachable(what: str, alternatives: str) -> None:
    """Fail in seconds, not minutes of retries, when the Hub cannot be reached."""
    hint = f"Use a local alternative: {alternatives}."
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise HubUnreachableError(f"Cannot fetch {what}: HF_HUB_OFFLINE is set. {hint}")
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=3).close()
    except OSError as err:
        raise HubUnreachableError(
            f"Cannot fetch {what}: {endpoint.hostname} is unreachable ({err}). {hint}"
        ) from None
