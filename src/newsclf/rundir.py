"""The files of a run directory (docs/run-directory.md) that the pictures and the report use:
their names, and reading them back with an error that says how to get what is missing."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from newsclf.errors import NewsclfError

CONFIG_YAML = "config.yaml"
HISTORY_JSON = "history.json"
TEST_METRICS_JSON = "test_metrics.json"
BEST_MODEL = "best_model"
PROGRESS_PNG = "training_progress.png"
CONFUSION_PNG = "confusion_matrix.png"
TSNE_HTML = "embeddings_tsne3d.html"
TSNE_CSV = "embeddings_tsne3d.csv"
BASELINE_JSON = "baseline_metrics.json"
REPORT_HTML = "report.html"


def require(run_dir: Path, name: str) -> Path:
    """`run_dir/name`, or a FileNotFoundError saying what is missing and how to get it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"Run directory {run_dir} does not exist. Train one with `newsclf train --name NAME`, "
            "then pass runs/NAME."
        )
    path = run_dir / name
    if not path.exists():
        raise FileNotFoundError(
            f"{run_dir} has no {name}: is it a newsclf run directory? "
            f"Train one with `newsclf train --name {run_dir.name}`"
            + (" or score it with `newsclf evaluate`." if name == TEST_METRICS_JSON else ".")
        )
    return path


def read_history(run_dir: Path) -> dict[str, Any]:
    path = require(run_dir, HISTORY_JSON)
    history = json.loads(path.read_text(encoding="utf-8"))
    if not history.get("epochs"):
        raise NewsclfError(
            f"{path} lists no epochs: the run stopped before its first epoch ended. Train it again."
        )
    return history


def read_test_metrics(run_dir: Path) -> dict[str, Any] | None:
    """test_metrics.json, or None for a run that was never scored on its test split."""
    path = Path(run_dir) / TEST_METRICS_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_json(path: Path, payload: Any) -> Path:
    return write_json_atomic(path, payload)


def write_files(run_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write already-rendered files (e.g. PNGs) into the run directory; returns their paths."""
    written = []
    for name, content in files.items():
        path = Path(run_dir) / name
        path.write_bytes(content)
        written.append(path)
    return written


# --- The training side: history rows, the staging directory, checkpoints, atomic writes. ---

DATA_JSON = "data.json"
CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_JSON = "trainer_state.json"
STAGING_SUFFIX = ".incomplete"


@dataclass
class EpochRow:
    """One line of history.json: what an epoch did and how the model scored after it."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_f1: float
    learning_rate: float
    steps: int  # optimizer steps taken in this epoch (per process)
    train_seconds: float  # the optimizer steps alone
    seconds: float  # the whole epoch: validation and checkpoints too


@dataclass
class History:
    """history.json: the epochs so far, the best one by validation accuracy (0: none yet),
    and how many processes trained (more than 1 for a data-parallel run)."""

    epochs: list[EpochRow] = field(default_factory=list)
    best_epoch: int = 0
    num_processes: int = 1

    @property
    def best(self) -> EpochRow:
        return next(row for row in self.epochs if row.epoch == self.best_epoch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "num_processes": self.num_processes,
            "epochs": [asdict(row) for row in self.epochs],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        rows = [EpochRow(**row) for row in values.get("epochs", [])]
        return cls(rows, values.get("best_epoch", 0), values.get("num_processes", 1))


def staging_dir(final_dir: Path) -> Path:
    """Where a run lives until it is complete: `.<name>.incomplete` next to its final place.
    An interrupted run stays there (with its checkpoints) for `newsclf train --resume`."""
    final_dir = Path(final_dir)
    return final_dir.with_name(f".{final_dir.name}{STAGING_SUFFIX}")


def checkpoints(run_dir: Path) -> list[Path]:
    """The complete `checkpoint-<step>/` directories of a run, oldest first. Half-written ones
    never match: they are written under a hidden temporary name and renamed when complete."""
    found = []
    for path in Path(run_dir).glob(CHECKPOINT_PREFIX + "*"):
        step = path.name.removeprefix(CHECKPOINT_PREFIX)
        if step.isdigit() and (path / TRAINER_STATE_JSON).is_file():
            found.append((int(step), path))
    return [path for _, path in sorted(found)]


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / f"{CHECKPOINT_PREFIX}{step}"


def temporary(path: Path) -> Path:
    """The hidden sibling a file or directory is written to before it is renamed into place."""
    path = Path(path)
    return path.with_name(f".tmp-{path.name}")


def write_json_atomic(path: Path, payload: Any) -> Path:
    """Write to a temporary file, then rename: a crash leaves the old file or the new one."""
    tmp = temporary(path)
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def replace_dir(tmp: Path, target: Path) -> None:
    """Move the complete directory `tmp` to `target`, keeping the previous `target` until the
    new one is in place. A crash between the two renames leaves `<target>.old` complete;
    `recover_dir` puts it back."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(target: Path) -> None:
    """Undo a `replace_dir` cut short between its renames."""
    old = target.with_name(target.name + ".old")
    if old.is_dir() and not target.exists():
        old.rename(target)
