"""A dataset's splits as given, row by row: what `newsclf audit` looks at.

Unlike `load_data`, nothing is carved or sampled: every split the data names is read whole,
and each kept row remembers its data row in the file (counted from 0, blank-text rows
included, as `predict --file --output` counts), so an audit's findings point back at the file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsclf.data.prepare import label_tables, read_frames
from newsclf.data.workdir import new_workdir
from newsclf.task import MULTI_LABEL

if TYPE_CHECKING:
    import numpy as np

    from newsclf.config import TrainConfig


@dataclass
class SplitRows:
    texts: list[str]
    labels: np.ndarray  # class ids [N], or the 0/1 matrix [N, classes] for multi-label
    rows: np.ndarray  # each text's data row in its file, counted from 0


@dataclass
class LabelledRows:
    splits: dict[str, SplitRows]
    label_names: list[str]
    task: str

    @property
    def multi_label(self) -> bool:
        return self.task == MULTI_LABEL

    def label_text(self, labels: np.ndarray) -> str:
        """One row's label as written in the audit's files: the class name, or the tags
        joined by '|' in class order."""
        if self.multi_label:
            return "|".join(n for n, on in zip(self.label_names, labels, strict=True) if on)
        return self.label_names[int(labels)]


def load_rows(cfg: TrainConfig, label_map: dict[str, str] | None = None) -> LabelledRows:
    """Every split `cfg` names, read whole: texts, labels and data rows (blank texts skipped,
    their rows still counted)."""
    import numpy as np

    frames, declared = read_frames(cfg)
    workdir = new_workdir()
    try:
        names, tables, keeps, (task, _) = label_tables(frames, cfg, declared, label_map, workdir)
        splits = {
            split: SplitRows(
                list(table.texts["text"]),
                table.labels,
                np.flatnonzero(keeps[split].to_numpy()),
            )
            for split, table in tables.items()
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return LabelledRows(splits, names, task)
