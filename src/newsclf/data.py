"""Load a dataset (bundled AG News, a Hub id, or local files: `newsclf.sources`), map its labels,
split, tokenize.

Everything downstream sees one shape: a DatasetDict with "train", "validation" and "test",
each with a `text` (str) and a `label` (int id) column, plus the ordered class names.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import DataError
from newsclf.sources import (
    RawTable,
    numeric_labels,
    open_table,
    read_source,
    wanted_columns,
)

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

    from newsclf.config import TrainConfig

# Prepared splits are written under the temporary directory, in newsclf-data-<pid>-<random>.
WORKDIR_PREFIX = "newsclf-data-"


@dataclass
class LoadedData:
    splits: datasets.DatasetDict
    label_names: list[str]
    source: str
    skipped_empty: dict[str, int] = field(default_factory=dict)
    # What was decided for the user: a carved split, a file read without a header row.
    notes: list[str] = field(default_factory=list)
    carved: dict[str, dict[str, Any]] = field(default_factory=dict)

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
            "carved": self.carved,
            "notes": self.notes,
            "source": self.source,
        }


def load_data(cfg: TrainConfig, label_map: dict[str, str] | None = None) -> LoadedData:
    """Load, map labels, split and subsample the data that `cfg` names.

    Without a test split, `test_fraction` of train is carved off (stratified, seeded) first,
    then `val_fraction` of the rest for validation when there is no validation split.
    """
    frames, declared = read_source(cfg)
    for split, file in (("validation", cfg.validation_data), ("test", cfg.test_data)):
        if file:
            frames[split] = open_table(Path(file), cfg.encoding, cfg.header, wanted_columns(cfg))
    if "train" not in frames:
        raise DataError(
            f"{cfg.data!r} has no training split (found: {sorted(frames)}). Name a file "
            "train.csv (or .tsv/.json/.jsonl/.parquet), or pass the file itself with --data."
        )
    # The splits' texts and tokens are written there (Arrow, memory-mapped back), so a large
    # file is never held in memory.
    workdir = _workdir()
    try:
        return _prepare(frames, cfg, declared, label_map, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _workdir() -> Path:
    """A new directory for this process's prepared splits, removed when the process exits
    (the datasets built on it may outlive any one object). Directories that processes killed
    before exiting left behind are removed here."""
    for old in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = old.name[len(WORKDIR_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    atexit.register(_remove_own, path, os.getpid())
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_own(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that inherited the exit hook
        shutil.rmtree(path, ignore_errors=True)


def _prepare(
    frames: dict[str, RawTable],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
    workdir: Path,
) -> LoadedData:
    """Map the labels, carve the missing splits, subsample: `load_data` after reading."""
    label_names, tables, skipped = _tables(frames, cfg, declared, label_map, workdir)
    notes = [n for raw in frames.values() if (n := raw.attrs.get("note"))]
    carved = {}
    for split, fraction, flag in (
        ("test", cfg.test_fraction, "test"),
        ("validation", cfg.val_fraction, "val"),
    ):
        if split not in tables:
            tables["train"], tables[split] = _stratified_split(
                tables["train"], fraction, cfg.seed, split, flag
            )
            carved[split] = {"from": "train", "fraction": fraction, "seed": cfg.seed}
            skipped.setdefault(split, 0)
            notes.append(
                f"{split}: {len(tables[split]):,} rows held out from train ({fraction:.0%}, "
                f"stratified, seed {cfg.seed}), as no {split} split was given"
            )
    _check_train(tables["train"], label_names)
    limits = {
        "train": cfg.max_train_samples,
        "validation": cfg.max_eval_samples,
        "test": cfg.max_test_samples,
    }
    for split, limit in limits.items():
        tables[split] = _subsample(tables[split], limit, cfg.seed)
    return LoadedData(_to_datasets(tables), label_names, cfg.data, skipped, notes, carved)


def load_eval_split(
    cfg: TrainConfig,
    split: str,
    label_names: list[str],
    whole_file: bool,
    label_map: dict[str, str] | None = None,
) -> tuple[list[str], list[int], list[str]]:
    """Texts, label ids (through the model's own class names) and notes, to score a model on.

    With `whole_file`, a `cfg.data` that is one file is scored whole; else the dataset (bundled,
    Hub, directory, or a run's own files) gives its `split`, carved the way training carved it.
    """
    if split not in ("train", "validation", "test"):
        raise DataError(f"split={split!r}: expected train, validation or test.")
    cfg = dataclasses.replace(cfg, label_names=list(label_names))
    if not (whole_file and Path(cfg.data).is_file()):
        data = load_data(cfg, label_map)
        ds = data.splits[split]
        return list(ds["text"]), list(ds["label"]), data.notes
    raw = open_table(Path(cfg.data), cfg.encoding, cfg.header, wanted_columns(cfg))
    workdir = _workdir()
    try:
        _, tables, _ = _tables({split: raw}, cfg, None, label_map, workdir)
        texts = list(tables[split].texts["text"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes = [raw.attrs["note"]] if "note" in raw.attrs else []
    return texts, tables[split].labels.tolist(), notes


def parse_label_map(spec: str | dict[str, str] | None) -> dict[str, str] | None:
    """`world=World,sci_tech=Sci/Tech`, or a JSON/YAML file holding such a mapping."""
    if spec is None or isinstance(spec, dict):
        return spec
    import yaml

    if Path(spec).is_file():
        try:
            mapping = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            mapping = None
        if not isinstance(mapping, dict):
            raise DataError(
                f"--label-map file {spec} does not hold a mapping of data labels to class names, "
                'e.g. {"world": "World", "sci_tech": "Sci/Tech"}. Fix the file.'
            )
        return {str(k): str(v) for k, v in mapping.items()}
    pairs = [p.partition("=") for p in spec.split(",") if p.strip()]
    if not pairs or any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
        raise DataError(
            f"--label-map {spec!r}: expected DATA_LABEL=CLASS pairs joined by commas, e.g. "
            "'world=World,sci_tech=Sci/Tech', or a JSON/YAML file of that mapping."
        )
    return {k.strip(): v.strip() for k, _, v in pairs}


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
            f"No text column in the {split} split ({_source(df)}): found columns {found}. "
            "Name it with --text-column (several joined with commas, e.g. 'title,description'), "
            "or pass --no-header if the first row is data."
        )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise DataError(
            f"Text column(s) {missing} not in the {split} split ({_source(df)}): found columns {found}. "
            "Fix --text-column."
        )
    return wanted


@dataclass
class _Split:
    """A split on its way to a Dataset: its texts on disk (one memory-mapped `text` column)
    and its class ids in memory (what splitting and sampling look at)."""

    texts: datasets.Dataset
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, positions: np.ndarray) -> _Split:
        from datasets.fingerprint import generate_random_fingerprint

        # A fingerprint given: datasets would otherwise hash the whole list of positions.
        texts = self.texts.select(positions, new_fingerprint=generate_random_fingerprint())
        return _Split(texts, self.labels[positions])


def _tables(
    frames: dict[str, RawTable],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
    workdir: Path,
) -> tuple[list[str], dict[str, _Split], dict[str, int]]:
    """Class names, and per split its non-blank texts (written to `workdir`) with their class
    ids, plus how many blank texts each split had.

    The names are `cfg.label_names` (given, or the model's when evaluating), else the ones the
    dataset declares. When both exist and differ, the dataset's class ids are read through its
    own names first, so a model that numbers the classes otherwise is still scored right.
    """
    import numpy as np

    names = cfg.label_names or declared
    through = declared if declared and cfg.label_names and declared != cfg.label_names else None
    texts, skipped, labels = {}, {}, {}
    for split, raw in frames.items():
        texts[split], label_cells, keep = _stream_split(raw, cfg, split, workdir)
        labels[split] = _labels(label_cells, cfg.label_column, split, keep, label_map, names)
        if through:
            labels[split] = _ids_to_names(labels[split], through)
        skipped[split] = int((~keep).sum())
    names, to_id = _label_mapping(labels, names)
    tables = {
        split: _Split(
            texts[split], np.asarray(_label_ids(labels[split], to_id[split], names, split))
        )
        for split in texts
    }
    return names, tables, skipped


def _stream_split(
    raw: RawTable, cfg: TrainConfig, split: str, workdir: Path
) -> tuple[datasets.Dataset, pd.DataFrame, pd.Series]:
    """Read a split a chunk at a time: its non-blank texts, stripped, go to an Arrow file in
    `workdir` (memory-mapped back); its label cells and which rows had a text stay in memory."""
    import datasets
    import pandas as pd
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    file = workdir / f"{split}.arrow"
    cells, keeps = [], []
    writer = ArrowWriter(features=datasets.Features(text=datasets.Value("string")), path=str(file))
    with writer:
        for chunk in raw.chunks():
            texts = _texts(chunk, cfg.text_column, split).str.strip()
            keep = texts.str.len() > 0
            writer.write_table(pa.table({"text": pa.array(texts[keep], pa.string())}))
            keeps.append(keep)
            if cfg.label_column in chunk.columns:
                cells.append(chunk[cfg.label_column])
        writer.finalize()
    keep = pd.concat(keeps)
    if not keep.any():
        raise DataError(
            f"The {split} split ({_source(raw)}) has no rows with non-empty text. Fill in the "
            "texts, or point --text-column at the column that holds them."
        )
    _check_label_column(raw, cfg.label_column, split)
    label_cells = pd.DataFrame({cfg.label_column: pd.concat(cells)})
    label_cells = numeric_labels(label_cells) if raw.numeric_labels else label_cells
    label_cells.attrs.update(raw.attrs)
    return datasets.Dataset.from_file(str(file)), label_cells, keep


def _ids_to_names(labels: pd.Series, names: list[str]) -> pd.Series:
    """Class ids (counted from 0 or from 1) -> the names they stand for."""
    ints = {v for v in labels.tolist() if isinstance(v, int)}
    if not ints:
        return labels
    base = 1 if 0 not in ints and max(ints) == len(names) else 0
    return labels.map(lambda v: names[v - base] if 0 <= v - base < len(names) else v)


def _source(table: pd.DataFrame | RawTable) -> str:
    return table.attrs.get("source", "the dataset")


def _labels(
    df: pd.DataFrame,
    column: str,
    split: str,
    keep: pd.Series,
    label_map: dict[str, str] | None,
    names: list[str] | None,
) -> pd.Series:
    """The label cells of the rows kept, checked: present, not empty, one kind of value."""
    _check_label_column(df, column, split)
    labels = df[column][keep]
    empty = labels.isna() | labels.astype(str).str.strip().eq("")
    if empty.any():
        first = int(empty.to_numpy().nonzero()[0][0])
        raise DataError(
            f"The {split} split ({_source(df)}) has {int(empty.sum())} row(s) with an empty "
            f"label, the first at data row {int(labels.index[first]) + 1}: every row needs a "
            "class. Fill in those labels or delete the rows."
        )
    if labels.dtype.kind == "f" and (labels % 1 == 0).all():
        labels = labels.astype(int)  # JSON integers read as floats
    if label_map:
        labels = _mapped(labels, label_map, names)
    _check_one_kind(labels, split, df)
    return labels


def _check_label_column(table: pd.DataFrame | RawTable, column: str, split: str) -> None:
    if column not in table.columns:
        raise DataError(
            f"Label column {column!r} not in the {split} split ({_source(table)}): found columns "
            f"{[str(c) for c in table.columns]}. Fix --label-column."
        )


def _check_one_kind(labels: pd.Series, split: str, df: pd.DataFrame) -> None:
    """Refuse a label column that mixes class ids (integers) and class names."""
    as_text = labels.astype(str).str.strip()
    numeric = as_text.str.fullmatch(r"-?\d+")
    if numeric.any() and not numeric.all():
        ids = sorted(set(as_text[numeric]))[:5]
        words = sorted(set(as_text[~numeric]))[:5]
        raise DataError(
            f"The labels of the {split} split ({_source(df)}) mix numbers {ids} and names "
            f"{words}: expected one kind. Write every label as a class name or every one as an id."
        )


def _mapped(labels: pd.Series, label_map: dict[str, str], names: list[str] | None) -> pd.Series:
    """Apply --label-map; each target must be a class name."""
    if names:
        lookup = _loose_lookup(names)
        wrong = sorted(v for v in set(label_map.values()) if _loose(v) not in lookup)
        if wrong:
            raise DataError(
                f"--label-map maps to {wrong}, which the model does not know: its classes are "
                f"{names}. Fix the mapping's right-hand sides."
            )
    return labels.map(lambda v: label_map.get(str(v).strip(), v))


def _loose(name: str) -> str:
    """Label names match ignoring case, spaces and punctuation: 'sci_tech' is 'Sci/Tech'."""
    return re.sub(r"[^0-9a-z]", "", str(name).casefold())


def _loose_lookup(names: list[str]) -> dict[str, int]:
    """Loose form -> class id, for the forms only one class has."""
    forms = [_loose(n) for n in names]
    return {f: i for i, f in enumerate(forms) if f and forms.count(f) == 1}


def _label_mapping(
    labels: dict[str, pd.Series], declared: list[str] | None
) -> tuple[list[str], dict[str, dict[Any, int]]]:
    """Class names in id order, and per split a map from raw label values to ids.

    Names come from --label-names (or the model), else from the dataset's declaration, else are
    derived deterministically from the training labels: sorted strings, or sorted integers.
    """
    if not declared:
        first = labels.get("train", next(iter(labels.values())))
        values = sorted(set(first.tolist()), key=lambda v: (str(type(v)), v))
        return [str(v) for v in values], {s: {v: i for i, v in enumerate(values)} for s in labels}
    names = list(declared)
    by_name = {name: i for i, name in enumerate(names)}
    maps = {}
    for split, series in labels.items():
        # Declared names number the classes, and each file may count them from 0 or from 1
        # (the bundled AG News train rows count from 0, the original test CSV from 1).
        ints = {v for v in series.tolist() if isinstance(v, int)}
        base = 1 if ints and 0 not in ints and max(ints) == len(names) else 0
        maps[split] = {**by_name, **{i + base: i for i in range(len(names))}}
    return names, maps


def _label_ids(labels: pd.Series, to_id: dict[Any, int], names: list[str], split: str) -> list:
    """Label values -> class ids: exactly, as text, or loosely (case and punctuation aside)."""
    loose = _loose_lookup(names)
    ids = labels.map(lambda v: to_id.get(v, to_id.get(str(v), loose.get(_loose(str(v)), -1))))
    unknown = sorted({str(v) for v in labels[ids < 0]})
    if unknown:
        numbers = [k for k in to_id if isinstance(k, int)]
        declared = numbers and any(isinstance(k, str) for k in to_id)
        ids_hint = f" (or ids {min(numbers)}-{max(numbers)})" if declared else ""
        raise DataError(
            f"Labels {unknown[:10]} in the {split} split are not among the classes {names}"
            f"{ids_hint}; names match ignoring case and punctuation. Fix the data, or map them "
            "with --label-map 'yours=Class,...' (evaluate) or --label-names (train)."
        )
    return ids.astype(int).tolist()


def _check_train(train: _Split, label_names: list[str]) -> None:
    present = sorted(set(train.labels.tolist()))
    if len(present) < 2:
        only = [label_names[i] for i in present]
        raise DataError(
            f"The training split has a single class {only}: a classifier needs at least two. "
            "Check --label-column, or the file you passed."
        )


def _stratified_split(
    table: _Split, fraction: float, seed: int, split: str, flag: str
) -> tuple[_Split, _Split]:
    """Hold out `fraction` of `table` for `split`: stratified and seeded."""
    import numpy as np
    from sklearn.model_selection import train_test_split

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


def _subsample(table: _Split, limit: int | None, seed: int) -> _Split:
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
    counts = np.unique(labels, return_counts=True)[1]
    can_stratify = counts.min() >= 2 and len(counts) <= min(limit, len(labels) - limit)
    kept, _ = train_test_split(
        positions, train_size=limit, random_state=seed, stratify=labels if can_stratify else None
    )
    return np.sort(kept)


def _to_datasets(tables: dict[str, _Split]) -> datasets.DatasetDict:
    """Each split as a Dataset of `text` and `label`: the texts stay on disk (the rows a split
    or a sample picked are written out once, next to the originals)."""
    import datasets
    from datasets.fingerprint import generate_random_fingerprint

    splits = {}
    with _no_datasets_progress():
        for split in ("train", "validation", "test"):
            table = tables.pop(split)
            splits[split] = table.texts.add_column(
                "label", table.labels.tolist(), new_fingerprint=generate_random_fingerprint()
            )
    return datasets.DatasetDict(splits)


@contextmanager
def _no_datasets_progress() -> Iterator[None]:
    """datasets draws a bar for writing out selected rows: an internal step, not news."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


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
