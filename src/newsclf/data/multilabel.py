"""Multi-label data: which task the labels describe, and tag sets read from the three common
shapes into one multi-hot matrix (rows x classes).

    text,labels                    one cell of names joined by --label-sep ("World|Business")
    {"text": ..., "labels": [...]} a JSON/JSONL/Parquet list of names (or class ids) per row
    text,toxic,obscene,insult      0/1 columns, one per class (--label-columns, or a prefix*)

A row with no tag is valid (none applies) and counted. Unknown names, cells that are not 0/1,
a name twice in one row and a class that never occurs in train are refused, one line each.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from newsclf.config import DEFAULT_LABEL_COLUMN
from newsclf.data.labels import loose, loose_lookup, source_of
from newsclf.errors import DataError
from newsclf.task import MULTI_LABEL, SINGLE_LABEL

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from newsclf.config import TrainConfig

ZERO_ONE = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def label_columns(cfg: TrainConfig, found: Sequence[str]) -> list[str]:
    """The columns that hold the labels: --label-columns (names, or a prefix ending in '*'),
    else --label-column ('label' by default, or 'labels' where only that exists: tag data often
    names it so). Missing ones are the caller's to report."""
    if cfg.label_columns is None:
        default = cfg.label_column == DEFAULT_LABEL_COLUMN
        if default and DEFAULT_LABEL_COLUMN not in found and "labels" in found:
            return ["labels"]
        return [cfg.label_column]
    wanted = []
    for name in cfg.label_columns:
        if name.endswith("*"):
            matched = [c for c in found if c.startswith(name[:-1])]
            if not matched:
                raise DataError(
                    f"--label-columns {name!r} matches no column: found {list(found)[:20]}. "
                    "Fix the prefix, or name the columns: --label-columns toxic,obscene."
                )
            wanted += matched
        else:
            wanted.append(name)
    return wanted


def decide_task(cfg: TrainConfig, cells: pd.DataFrame) -> tuple[str, str]:
    """The task and why: what --task says, else what the train split's label cells look like."""
    if cfg.task != "auto":
        return cfg.task, f"--task {cfg.task}"
    if cfg.label_columns is not None:
        return MULTI_LABEL, f"--label-columns names {len(cells.columns)} 0/1 column(s)"
    column = cells.columns[0]
    values = cells[column].dropna()
    if len(values) and values.map(_is_list).all():
        return MULTI_LABEL, f"the {column!r} cells are lists of labels"
    joined = values.astype(str).str.contains(cfg.label_sep, regex=False)
    if joined.any():
        example = values[joined].iloc[0]
        return MULTI_LABEL, f"label cells such as {example!r} join several with {cfg.label_sep!r}"
    why = f"each {column!r} cell holds one label (no lists, no {cfg.label_sep!r})"
    return SINGLE_LABEL, why


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "ndarray"


def tag_sets(cells: pd.DataFrame, cfg: TrainConfig, split: str, keep: pd.Series) -> list[list[Any]]:
    """Each kept row's tags, as read: names (or ids), in cell order; checked for repeats."""
    cells = cells[keep.to_numpy()]
    if cfg.label_columns is not None:
        return _from_columns(cells, split)
    sets = [_cell_tags(v, cfg.label_sep) for v in cells.iloc[:, 0].tolist()]
    for row, tags in zip(cells.index, sets, strict=True):
        twice = sorted({str(t) for t in tags if tags.count(t) > 1})
        if twice:
            raise DataError(
                f"Data row {int(row) + 1} of the {split} split ({source_of(cells)}) names "
                f"{twice} more than once. Write each label once per row."
            )
    return sets


def _cell_tags(value: Any, sep: str) -> list[Any]:
    if value is None or (isinstance(value, float) and value != value):  # NaN: no tag
        return []
    if _is_list(value):
        return [v.strip() if isinstance(v, str) else v for v in list(value)]
    return [t.strip() for t in str(value).split(sep) if t.strip()]


def _from_columns(cells: pd.DataFrame, split: str) -> list[list[Any]]:
    """0/1 columns -> the names of the columns holding 1, per row."""
    names = [str(c) for c in cells.columns]
    flags = [_zero_one(cells[name], name, split, cells) for name in names]
    return [[n for n, on in zip(names, row, strict=True) if on] for row in zip(*flags, strict=True)]


def _zero_one(column: pd.Series, name: str, split: str, cells: pd.DataFrame) -> list[int]:
    """A class column's cells as 0/1 (0, 1, 0.0, 1.0, true, false, as numbers or text)."""
    flags = column.astype(str).str.strip().str.lower().map(ZERO_ONE)
    bad = flags.isna().to_numpy()
    if bad.any():
        row = column.index[bad.argmax()]
        raise DataError(
            f"Column {name!r} holds {column[row]!r} at data row {int(row) + 1} of the {split} "
            f"split ({source_of(cells)}): expected 0 or 1 in every class column. Fix the cell, "
            "or check --label-columns."
        )
    return flags.astype(int).tolist()


def class_names(sets: dict[str, list[list[Any]]], names: list[str] | None) -> list[str]:
    """The classes: given (--label-names, the model's, 0/1 column names), else every name the
    training tags use, sorted."""
    if names:
        return list(names)
    first = sets.get("train", next(iter(sets.values())))
    return sorted({str(t) for tags in first for t in tags})


def multi_hot(
    sets: list[list[Any]], names: list[str], split: str, label_map: dict[str, str] | None = None
) -> np.ndarray:
    """Rows x classes of 0/1 (uint8). Names match exactly, then ignoring case and punctuation;
    an integer tag is a class id (from 0)."""
    import numpy as np

    exact, fuzzy = {n: i for i, n in enumerate(names)}, loose_lookup(names)
    matrix = np.zeros((len(sets), len(names)), dtype=np.uint8)
    unknown: set[str] = set()
    for row, tags in enumerate(sets):
        for tag in tags:
            tag = label_map.get(str(tag), tag) if label_map else tag
            i = _class_id(tag, exact, fuzzy, len(names))
            if i is None:
                unknown.add(str(tag))
            else:
                matrix[row, i] = 1
    if unknown:
        raise DataError(
            f"Labels {sorted(unknown)[:10]} in the {split} split are not among the classes "
            f"{names[:20]}; names match ignoring case and punctuation. Fix the data, or map them "
            "with --label-map 'yours=Class,...' (evaluate) or --label-names (train)."
        )
    return matrix


def _class_id(tag: Any, exact: dict[str, int], fuzzy: dict[str, int], n: int) -> int | None:
    """A tag's class: its name (exactly, else loosely), or an integer id from 0."""
    if isinstance(tag, numbers.Integral) and not isinstance(tag, bool):
        return int(tag) if 0 <= tag < n else None
    found = exact.get(str(tag), fuzzy.get(loose(str(tag))))
    if found is None and str(tag).isdigit() and int(tag) < n:
        return int(tag)  # an id read as text (a CSV cell)
    return found


def check_train_tags(matrix: np.ndarray, names: list[str]) -> None:
    """Every class must occur in train: a model cannot learn a tag it never sees."""
    never = [names[i] for i, count in enumerate(matrix.sum(axis=0)) if count == 0]
    if never:
        raise DataError(
            f"Class(es) {never[:10]} never occur in the training split: the model cannot learn "
            "them. Add training rows with them, or leave them out of --label-names / "
            "--label-columns."
        )


def cardinality(matrix: np.ndarray) -> dict[str, float | int]:
    """Tags per row (mean), and how many rows have none."""
    per_row = matrix.sum(axis=1)
    mean = float(per_row.mean()) if len(per_row) else 0.0
    return {"label_cardinality": round(mean, 4), "rows_without_labels": int((per_row == 0).sum())}
