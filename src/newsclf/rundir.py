"""A run directory's files (docs/run-directory.md), in one place: their names, reading them back
with an error that says how to get what is missing, and writing them atomically.

Training writes a run; evaluate, the pictures and the report read it. The training side's own
rules (the staging directory, checkpoints) are in `newsclf.training.staging`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from newsclf.errors import NewsclfError

CONFIG_YAML = "config.yaml"
DATA_JSON = "data.json"
HISTORY_JSON = "history.json"
TEST_METRICS_JSON = "test_metrics.json"
BEST_MODEL = "best_model"
PROGRESS_PNG = "training_progress.png"
CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_PNG = "reliability_diagram.png"
# Multi-label runs: the thresholds tuned on validation, and their pictures.
THRESHOLDS_JSON = "thresholds.json"
COOCCURRENCE_PNG = "label_cooccurrence.png"
CURVE_PNG = "threshold_curve.png"
TSNE_HTML = "embeddings_tsne3d.html"
TSNE_CSV = "embeddings_tsne3d.csv"
BASELINE_JSON = "baseline_metrics.json"
REPORT_HTML = "report.html"
EXPLANATIONS_JSON = "explanations.json"  # a few misclassified test texts, explained
# While training: resumable checkpoints, each with the loop's position, in the staging directory.
CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_JSON = "trainer_state.json"
STAGING_SUFFIX = ".incomplete"
# A model soup (--soup N): each member is trained in members/<m>/ (its checkpoints, best_model/
# and history.json); member.json marks a finished one. The members' weights go once the soup is
# saved; their history.json and member.json stay.
SOUP_MEMBERS = "members"
MEMBER_JSON = "member.json"


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


def run_dir_of(path: Path) -> Path:
    """The run directory a path names: itself, or the run holding it when it is best_model/."""
    path = Path(path)
    return path.parent if path.name == BEST_MODEL else path


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
    return read_optional(run_dir, TEST_METRICS_JSON)


def read_optional(run_dir: Path, name: str) -> dict[str, Any] | None:
    """A JSON file of the run, or None where the run has none (thresholds.json of a
    single-label run, data.json of a run written before it existed)."""
    path = Path(run_dir) / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def temporary(path: Path) -> Path:
    """The hidden sibling a file or directory is written to before it is renamed into place."""
    path = Path(path)
    return path.with_name(f".tmp-{path.name}")


def write_json(path: Path, payload: Any) -> Path:
    """Write to a temporary file, then rename: a crash leaves the old file or the new one."""
    tmp = temporary(path)
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_files(run_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write already-rendered files (e.g. PNGs) into the run directory; returns their paths."""
    written = []
    for name, content in files.items():
        path = Path(run_dir) / name
        path.write_bytes(content)
        written.append(path)
    return written


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
