"""Prepared data: a dataset (bundled AG News, a local file or directory, a Hub id: see
`newsclf.data.sources`) read, its labels mapped, the missing splits carved and the samples taken.

Everything downstream sees one shape: a DatasetDict with "train", "validation" and "test",
each with a `text` (str) and a `label` (int id) column, plus the ordered class names.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.data.duplicates import overlap_counts, overlap_note
from newsclf.data.labels import (
    check_label_column,
    check_labels,
    ids_to_names,
    label_ids,
    label_mapping,
    source_of,
)
from newsclf.data.multilabel import (
    cardinality,
    class_names,
    decide_task,
    label_columns,
    multi_hot,
    tag_sets,
)
from newsclf.data.readers import RawTable, numeric_labels, open_table
from newsclf.data.sources import read_source, wanted_columns
from newsclf.data.splits import Split, check_train, stratified_split, subsample
from newsclf.data.workdir import new_workdir
from newsclf.errors import DataError
from newsclf.quiet import quiet_libraries
from newsclf.task import MULTI_LABEL, SINGLE_LABEL

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

    from newsclf.config import TrainConfig
    from newsclf.task import ModelTask


@dataclass
class LoadedData:
    splits: datasets.DatasetDict
    label_names: list[str]
    source: str
    skipped_empty: dict[str, int] = field(default_factory=dict)
    # What was decided for the user: a carved split, a file read without a header row.
    notes: list[str] = field(default_factory=list)
    carved: dict[str, dict[str, Any]] = field(default_factory=dict)
    task: str = SINGLE_LABEL  # or MULTI_LABEL: `label` is then a 0/1 list per row
    # Rows of a split whose text also occurs in another (newsclf.data.duplicates.OVERLAPS).
    overlap: dict[str, int] = field(default_factory=dict)

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    def label_matrix(self, split: str) -> np.ndarray:
        """A split's labels: class ids [N], or the 0/1 matrix [N, classes] for multi-label."""
        import numpy as np

        column = self.splits[split].with_format("numpy")["label"]
        return np.asarray(column, dtype=np.uint8 if self.multi_label else np.int64)

    def class_counts(self, split: str) -> np.ndarray:
        """Rows of each class in a split (multi-label: rows carrying each tag), in id order."""
        import numpy as np

        labels = self.label_matrix(split)
        if self.multi_label:
            return labels.sum(axis=0)
        return np.bincount(labels, minlength=len(self.label_names))

    def summary(self) -> dict[str, Any]:
        """Rows and class counts per split (rows carrying each tag, for multi-label): what
        `data.json` and the report show."""
        import numpy as np

        out = {}
        for split in self.splits:
            labels = self.label_matrix(split)
            counts = self.class_counts(split)
            row = {
                "rows": len(labels),
                "class_counts": dict(zip(self.label_names, counts.tolist(), strict=True)),
            }
            out[split] = {**row, **(cardinality(labels) if self.multi_label else {})}
        tags = {}
        if self.multi_label:  # rows of train carrying both tags i and j (the diagonal: i)
            train = self.label_matrix("train").astype(np.int64)
            tags = {"cooccurrence": (train.T @ train).tolist()}
        return {
            "task": self.task,
            "label_names": self.label_names,
            **tags,
            "splits": out,
            "skipped_empty": self.skipped_empty,
            "carved": self.carved,
            "overlap": self.overlap,
            "notes": self.notes,
            "source": self.source,
        }


def load_data(cfg: TrainConfig, label_map: dict[str, str] | None = None) -> LoadedData:
    """Load, map labels, split and subsample the data that `cfg` names.

    Without a test split, `test_fraction` of train is carved off (stratified, seeded) first,
    then `val_fraction` of the rest for validation when there is no validation split.
    """
    frames, declared = read_frames(cfg)
    # The splits' texts and tokens are written there (Arrow, memory-mapped back), so a large
    # file is never held in memory.
    workdir = new_workdir()
    try:
        return _prepare(frames, cfg, declared, label_map, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def read_frames(cfg: TrainConfig) -> tuple[dict[str, RawTable], list[str] | None]:
    """The splits `cfg` names, opened (not yet read), and the class names the dataset declares."""
    frames, declared = read_source(cfg)
    for split, file in (("validation", cfg.validation_data), ("test", cfg.test_data)):
        if file:
            frames[split] = open_table(Path(file), cfg.encoding, cfg.header, wanted_columns(cfg))
    if "train" not in frames:
        raise DataError(
            f"{cfg.data!r} has no training split (found: {sorted(frames)}). Name a file "
            "train.csv (or .tsv/.json/.jsonl/.parquet), or pass the file itself with --data."
        )
    return frames, declared


def _prepare(
    frames: dict[str, RawTable],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
    workdir: Path,
) -> LoadedData:
    """Map the labels, carve the missing splits, subsample: `load_data` after reading."""
    label_names, tables, keeps, (task, why) = label_tables(
        frames, cfg, declared, label_map, workdir
    )
    skipped = {split: int((~keep).sum()) for split, keep in keeps.items()}
    notes = [n for raw in frames.values() if (n := raw.attrs.get("note"))]
    if cfg.task == "auto":
        other = MULTI_LABEL if task == SINGLE_LABEL else SINGLE_LABEL
        notes.append(f"task: {task}, as {why}; --task {other} says otherwise")
    method = "iterative stratification" if task == MULTI_LABEL else "stratified"
    carved = {}
    for split, fraction, flag in (
        ("test", cfg.test_fraction, "test"),
        ("validation", cfg.val_fraction, "val"),
    ):
        if split not in tables:
            tables["train"], tables[split] = stratified_split(
                tables["train"], fraction, cfg.seed, split, flag
            )
            carved[split] = {
                "from": "train",
                "fraction": fraction,
                "seed": cfg.seed,
                "method": method,
            }
            skipped.setdefault(split, 0)
            notes.append(
                f"{split}: {len(tables[split]):,} rows held out from train ({fraction:.0%}, "
                f"{method}, seed {cfg.seed}), as no {split} split was given"
            )
    check_train(tables["train"], label_names)
    limits = {
        "train": cfg.max_train_samples,
        "validation": cfg.max_eval_samples,
        "test": cfg.max_test_samples,
    }
    for split, limit in limits.items():
        tables[split] = subsample(tables[split], limit, cfg.seed)
    splits = _to_datasets(tables)
    overlap = overlap_counts(splits)
    notes.extend(n for n in [overlap_note(overlap)] if n)
    return LoadedData(splits, label_names, cfg.data, skipped, notes, carved, task, overlap)


def load_eval_split(
    cfg: TrainConfig,
    split: str,
    model: ModelTask,
    whole_file: bool,
    label_map: dict[str, str] | None = None,
) -> tuple[list[str], list[int] | list[list[int]], list[str]]:
    """Texts, label ids (through the model's own class names) and notes, to score a model on.

    With `whole_file`, a `cfg.data` that is one file is scored whole; else the dataset (bundled,
    Hub, directory, or a run's own files) gives its `split`, carved the way training carved it.
    """
    if split not in ("train", "validation", "test"):
        raise DataError(f"split={split!r}: expected train, validation or test.")
    cfg = dataclasses.replace(cfg, label_names=list(model.label_names), task=model.task)
    if not (whole_file and Path(cfg.data).is_file()):
        data = load_data(cfg, label_map)
        return list(data.splits[split]["text"]), data.label_matrix(split).tolist(), data.notes
    raw = open_table(Path(cfg.data), cfg.encoding, cfg.header, wanted_columns(cfg))
    workdir = new_workdir()
    try:
        _, tables, _, _ = label_tables({split: raw}, cfg, None, label_map, workdir)
        texts = list(tables[split].texts["text"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes = [raw.attrs["note"]] if "note" in raw.attrs else []
    return texts, tables[split].labels.tolist(), notes


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
            f"No text column in the {split} split ({source_of(df)}): found columns {found}. "
            "Name it with --text-column (several joined with commas, e.g. 'title,description'), "
            "or pass --no-header if the first row is data."
        )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise DataError(
            f"Text column(s) {missing} not in the {split} split ({source_of(df)}): found columns {found}. "
            "Fix --text-column."
        )
    return wanted


def label_tables(
    frames: dict[str, RawTable],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
    workdir: Path,
) -> tuple[list[str], dict[str, Split], dict[str, pd.Series], tuple[str, str]]:
    """Class names; per split its non-blank texts (written to `workdir`) with their labels;
    which of its rows had a text (True) or a blank one; and the task with the reason it was
    chosen."""
    texts, cells, keeps = {}, {}, {}
    for split, raw in frames.items():
        texts[split], cells[split], keeps[split] = _stream_split(raw, cfg, split, workdir)
    task, why = decide_task(cfg, cells.get("train", next(iter(cells.values()))))
    decode = _multi_label if task == MULTI_LABEL else _single_label
    names, labels = decode(cells, keeps, cfg, declared, label_map)
    tables = {split: Split(texts[split], labels[split]) for split in texts}
    return names, tables, keeps, (task, why)


def _single_label(
    cells: dict[str, pd.DataFrame],
    keeps: dict[str, pd.Series],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """One class per row: class names, and per split the kept rows' class ids.

    The names are `cfg.label_names` (given, or the model's when evaluating), else the ones the
    dataset declares. When both exist and differ, the dataset's class ids are read through its
    own names first, so a model that numbers the classes otherwise is still scored right.
    """
    import numpy as np

    names = cfg.label_names or declared
    through = declared if declared and cfg.label_names and declared != cfg.label_names else None
    labels = {}
    for split, label_cells in cells.items():
        keep = keeps[split]
        column = label_cells.columns[0]
        labels[split] = check_labels(label_cells, column, split, keep, label_map, names)
        if through:
            labels[split] = ids_to_names(labels[split], through)
    names, to_id = label_mapping(labels, names)
    ids = {s: np.asarray(label_ids(labels[s], to_id[s], names, s)) for s in labels}
    return names, ids


def _multi_label(
    cells: dict[str, pd.DataFrame],
    keeps: dict[str, pd.Series],
    cfg: TrainConfig,
    declared: list[str] | None,
    label_map: dict[str, str] | None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Any number of tags per row: class names, and per split the kept rows' 0/1 matrix."""
    sets = {split: tag_sets(c, cfg, split, keeps[split]) for split, c in cells.items()}
    columns = list(next(iter(cells.values())).columns) if cfg.label_columns else None
    names = class_names(sets, cfg.label_names or columns or declared)
    return names, {split: multi_hot(tags, names, split, label_map) for split, tags in sets.items()}


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
    columns = label_columns(cfg, raw.columns)
    cells, keeps = [], []
    writer = ArrowWriter(features=datasets.Features(text=datasets.Value("string")), path=str(file))
    with writer:
        for chunk in raw.chunks():
            texts = _texts(chunk, cfg.text_column, split).str.strip()
            keep = texts.str.len() > 0
            writer.write_table(pa.table({"text": pa.array(texts[keep], pa.string())}))
            keeps.append(keep)
            if set(columns) <= set(chunk.columns):
                cells.append(chunk[columns])
        writer.finalize()
    keep = pd.concat(keeps)
    if not keep.any():
        raise DataError(
            f"The {split} split ({source_of(raw)}) has no rows with non-empty text. Fill in the "
            "texts, or point --text-column at the column that holds them."
        )
    for column in columns:
        check_label_column(raw, column, split)
    label_cells = pd.concat(cells)
    if raw.numeric_labels and cfg.label_columns is None:
        label_cells = numeric_labels(label_cells)
    label_cells.attrs.update(raw.attrs)
    return datasets.Dataset.from_file(str(file)), label_cells, keep


def _to_datasets(tables: dict[str, Split]) -> datasets.DatasetDict:
    """Each split as a Dataset of `text` and `label`: the texts stay on disk (the rows a split
    or a sample picked are written out once, next to the originals)."""
    import datasets
    from datasets.fingerprint import generate_random_fingerprint

    splits = {}
    with quiet_libraries("datasets"):
        for split in ("train", "validation", "test"):
            table = tables.pop(split)
            # Multi-label rows keep a 0/1 list per row, stored as int8.
            tags = datasets.Sequence(datasets.Value("int8")) if table.labels.ndim == 2 else None
            splits[split] = table.texts.add_column(
                "label",
                table.labels.tolist(),
                feature=tags,
                new_fingerprint=generate_random_fingerprint(),
            )
    return datasets.DatasetDict(splits)
