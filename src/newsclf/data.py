"""Load a dataset (bundled AG News, a Hub id, or local files), map its labels, split, tokenize.

Everything downstream sees one shape: a DatasetDict with "train", "validation" and "test",
each with a `text` (str) and a `label` (int id) column, plus the ordered class names.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import DataError, HubUnreachableError

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

    from newsclf.config import TrainConfig

AG_NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
BUNDLED = {"ag_news": ("train_subset.csv.gz", "test.csv.gz")}
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}


@dataclass
class LoadedData:
    splits: datasets.DatasetDict
    label_names: list[str]
    source: str
    skipped_empty: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Rows and class counts per split: what `data.json` and the report show."""
        out = {}
        for split, ds in self.splits.items():
            counts = {name: 0 for name in self.label_names}
            for label in ds["label"]:
                counts[self.label_names[label]] += 1
            out[split] = {"rows": len(ds), "class_counts": counts}
        return {
            "label_names": self.label_names,
            "splits": out,
            "skipped_empty": self.skipped_empty,
            "source": self.source,
        }


def load_data(cfg: TrainConfig) -> LoadedData:
    """Load, map labels, split and subsample the data that `cfg` names."""
    frames, declared = _read_source(cfg)
    if cfg.validation_data:
        frames["validation"] = _read_file(Path(cfg.validation_data), cfg.encoding)
    if cfg.test_data:
        frames["test"] = _read_file(Path(cfg.test_data), cfg.encoding)
    if "train" not in frames:
        raise DataError(f"{cfg.data!r} has no training split (found: {sorted(frames)}).")
    if "test" not in frames:
        raise DataError(
            f"{cfg.data!r} has no test split (found: {sorted(frames)}). Pass one with --test-data FILE."
        )
    texts = {s: _texts(df, cfg.text_column, s) for s, df in frames.items()}
    label_names, to_id = _label_mapping(frames, cfg, declared)
    tables = {s: _clean(texts[s], frames[s][cfg.label_column], to_id[s], s) for s in frames}
    skipped = {s: n for s, (_, n) in tables.items()}
    tables = {s: t for s, (t, _) in tables.items()}
    _check_train(tables["train"], label_names)
    if "validation" not in tables:
        tables["train"], tables["validation"] = _stratified_split(tables["train"], cfg)
    limits = {
        "train": cfg.max_train_samples,
        "validation": cfg.max_eval_samples,
        "test": cfg.max_test_samples,
    }
    for split, limit in limits.items():
        tables[split] = _subsample(tables[split], limit, cfg.seed)
    return LoadedData(_to_datasets(tables), label_names, cfg.data, skipped)


def load_eval_split(
    cfg: TrainConfig, split: str, label_names: list[str]
) -> tuple[list[str], list[int]]:
    """Texts and label ids to score a model on, mapped through the model's own class names.

    A single file is scored whole; a dataset (bundled, Hub, directory) gives its `split`.
    """
    if split not in ("train", "validation", "test"):
        raise DataError(f"split={split!r}: expected train, validation or test.")
    cfg = dataclasses.replace(cfg, label_names=list(label_names))
    path = Path(cfg.data)
    if path.is_file():
        df = _read_file(path, cfg.encoding)
        names, maps = _label_mapping({split: df}, cfg, None)
        table, _ = _clean(
            _texts(df, cfg.text_column, split), df[cfg.label_column], maps[split], split
        )
    else:
        ds = load_data(cfg).splits[split]
        return list(ds["text"]), list(ds["label"])
    return table["text"].tolist(), table["label"].tolist()


# --- sources -----------------------------------------------------------------------------


def _read_source(cfg: TrainConfig) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    """Return the frames per split and the class names the source declares, if any."""
    if cfg.data in BUNDLED:
        return _read_bundled(cfg.data), list(AG_NEWS_LABELS)
    path = Path(cfg.data)
    if path.exists():
        return _read_local(path, cfg.encoding)
    if "/" in cfg.data and not cfg.data.startswith((".", "/")):
        return _read_hub(cfg.data)
    raise DataError(
        f"--data {cfg.data!r} is neither a bundled dataset ({', '.join(BUNDLED)}), an existing "
        "file or directory, nor a Hub id like 'fancyzhx/ag_news'. Check the spelling or the path."
    )


def bundled_path(name: str, filename: str) -> Path:
    return Path(str(resources.files("newsclf") / "datasets" / name / filename))


def _read_bundled(name: str) -> dict[str, pd.DataFrame]:
    train_file, test_file = BUNDLED[name]
    return {
        "train": _read_file(bundled_path(name, train_file), "utf-8"),
        "test": _read_file(bundled_path(name, test_file), "utf-8"),
    }


def _read_local(path: Path, encoding: str) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
    declared = _classes_txt(path if path.is_dir() else path.parent)
    if path.is_file():
        return {"train": _read_file(path, encoding)}, declared
    frames = {}
    for file in sorted(path.iterdir()):
        split = _split_of(file)
        if split and split not in frames:
            frames[split] = _read_file(file, encoding)
    if not frames:
        raise DataError(
            f"Directory {path} holds no train/validation/test files with a suffix among "
            f"{', '.join(SUFFIXES)} (found: {sorted(p.name for p in path.iterdir())[:10]})."
        )
    return frames, declared


def _split_of(file: Path) -> str | None:
    stem, suffix = _stem_and_format(file)
    if suffix is None:
        return None
    for split, aliases in SPLIT_ALIASES.items():
        if stem.lower() in aliases:
            return split
    return None


def _stem_and_format(file: Path) -> tuple[str, str | None]:
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


def _read_file(path: Path, encoding: str) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"Data file {path} does not exist.")
    _, fmt = _stem_and_format(path)
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)} (optionally .gz)."
        )
    try:
        if fmt in ("csv", "tsv"):
            df = _read_csv(path, "\t" if fmt == "tsv" else ",", encoding)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_json(path, lines=fmt == "jsonl", encoding=encoding)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: bytes that are not valid {encoding} at position {err.start}. Re-save the file "
            "as UTF-8, or pass --encoding (e.g. latin-1) if you know its encoding."
        ) from None
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: could not be parsed as {fmt}: {err}") from None
    if df.empty:
        raise DataError(f"{path} holds no rows. Expected a header and at least one row per class.")
    return df


def _read_csv(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    """Read a CSV; the original AG News CSV has no header: class (1-4), title, description."""
    import pandas as pd

    df = pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)
    first = str(df.columns[0]).strip()
    if len(df.columns) == 3 and first.isdigit():
        df = pd.read_csv(
            path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, header=None
        )
        df.columns = ["label", "title", "description"]
        df["label"] = df["label"].astype(int)
        return df
    return _numeric_labels(df)


def _numeric_labels(df: pd.DataFrame) -> pd.DataFrame:
    """CSV columns were read as text; a label column of integers should be integers."""
    for column in df.columns:
        values = df[column]
        if len(values) and values.str.fullmatch(r"-?\d+").all():
            df[column] = values.astype(int)
    return df


def _read_hub(dataset_id: str) -> tuple[dict[str, pd.DataFrame], list[str] | None]:
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
                frames[canonical] = ds.to_pandas()
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


# --- columns and labels --------------------------------------------------------------------


def _texts(df: pd.DataFrame, text_column: str | None, split: str) -> pd.Series:
    columns = _text_columns(df, text_column, split)
    texts = df[columns[0]].astype(str)
    for column in columns[1:]:
        texts = texts.str.cat(df[column].astype(str), sep=" ")
    return texts


def _text_columns(df: pd.DataFrame, text_column: str | None, split: str) -> list[str]:
    found = [str(c) for c in df.columns]
    if text_column:
        wanted = [c.strip() for c in text_column.split(",")]
    elif "text" in found:
        wanted = ["text"]
    elif {"title", "description"} <= set(found):
        wanted = ["title", "description"]
    else:
        raise DataError(
            f"No text column in the {split} split: found columns {found}. "
            "Name it with --text-column (several joined with commas, e.g. 'title,description')."
        )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise DataError(
            f"Text column(s) {missing} not in the {split} split: found columns {found}. "
            "Fix --text-column."
        )
    return wanted


def _label_mapping(
    frames: dict[str, pd.DataFrame], cfg: TrainConfig, declared: list[str] | None
) -> tuple[list[str], dict[str, dict[Any, int]]]:
    """Class names in id order, and per split a map from raw label values to ids.

    Names come from --label-names, else from the dataset's declaration, else are derived
    deterministically from the training labels: sorted strings, or sorted integers as text.
    """
    for split, df in frames.items():
        if cfg.label_column not in df.columns:
            raise DataError(
                f"Label column {cfg.label_column!r} not in the {split} split: found columns "
                f"{[str(c) for c in df.columns]}. Fix --label-column."
            )
    first = frames.get("train", next(iter(frames.values())))
    values = sorted(set(first[cfg.label_column].tolist()), key=lambda v: (str(type(v)), v))
    names = list(cfg.label_names or declared or [])
    if not names:
        names = [str(v) for v in values]
        return names, {s: {v: i for i, v in enumerate(values)} for s in frames}
    by_name = {name: i for i, name in enumerate(names)}
    maps = {}
    for split, df in frames.items():
        # Declared names number the classes, and each file may count them from 0 or from 1
        # (the bundled AG News train rows count from 0, the original test CSV from 1).
        ints = {v for v in df[cfg.label_column].tolist() if isinstance(v, int)}
        base = 1 if ints and 0 not in ints and max(ints) == len(names) else 0
        maps[split] = {**by_name, **{i + base: i for i in range(len(names))}}
    return names, maps


def _clean(
    texts: pd.Series, labels: pd.Series, to_id: dict[Any, int], split: str
) -> tuple[Any, int]:
    """Drop empty texts (counted, reported), map labels to ids, refuse unknown labels."""
    import pandas as pd

    keep = texts.str.strip().str.len() > 0
    ids = labels.map(lambda v: to_id.get(v, to_id.get(str(v), -1)))
    unknown = sorted({str(v) for v in labels[keep & (ids < 0)]})
    if unknown:
        known = sorted({str(k) for k in to_id})
        raise DataError(
            f"Labels {unknown[:10]} in the {split} split are not among the known classes {known}. "
            "Fix the data, or pass every class with --label-names."
        )
    table = pd.DataFrame({"text": texts[keep].str.strip(), "label": ids[keep].astype(int)})
    if table.empty:
        raise DataError(f"The {split} split has no rows with non-empty text.")
    return table.reset_index(drop=True), int((~keep).sum())


def _check_train(train: pd.DataFrame, label_names: list[str]) -> None:
    present = sorted(set(train["label"]))
    if len(present) < 2:
        only = [label_names[i] for i in present]
        raise DataError(
            f"The training split has a single class {only}: a classifier needs at least two. "
            "Check --label-column, or the file you passed."
        )


def _stratified_split(table: pd.DataFrame, cfg: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    counts = table["label"].value_counts()
    n_val = math.ceil(cfg.val_fraction * len(table))
    # Stratify where every class can appear on both sides; tiny data falls back to a random split.
    can_stratify = counts.min() >= 2 and len(counts) <= min(n_val, len(table) - n_val)
    stratify = table["label"] if can_stratify else None
    try:
        train, val = train_test_split(
            table, test_size=cfg.val_fraction, random_state=cfg.seed, stratify=stratify
        )
    except ValueError as err:
        raise DataError(
            f"Cannot carve a validation split of {cfg.val_fraction:.0%} out of {len(table)} training "
            f"rows: {err}. Add rows, change --val-fraction, or pass --validation-data."
        ) from None
    return train.reset_index(drop=True), val.reset_index(drop=True)


def _subsample(table: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None:
        return table
    return table.iloc[stratified_sample(table["label"], limit, seed)].reset_index(drop=True)


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
    counts = np.unique(labels, return_counts=True)[1]
    can_stratify = counts.min() >= 2 and len(counts) <= min(limit, len(labels) - limit)
    kept, _ = train_test_split(
        positions, train_size=limit, random_state=seed, stratify=labels if can_stratify else None
    )
    return np.sort(kept)


def _to_datasets(tables: dict[str, pd.DataFrame]) -> datasets.DatasetDict:
    import datasets

    order = ("train", "validation", "test")
    return datasets.DatasetDict(
        {s: datasets.Dataset.from_pandas(tables[s], preserve_index=False) for s in order}
    )


# --- tokenization --------------------------------------------------------------------------


def tokenize(
    splits: datasets.Dataset | datasets.DatasetDict, tokenizer: Any, max_length: int
) -> Any:
    """Tokenize a split (or every split) once, batched, keeping `length` for length-grouped batches."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        return enc

    return splits.map(
        encode, batched=True, batch_size=1000, remove_columns=["text"], desc="Tokenizing"
    )
