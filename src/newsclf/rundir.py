"""The files of a run directory (docs/run-directory.md) that the pictures and the report use:
their names, and reading them back with an error that says how to get what is missing."""

from __future__ import annotations

import json
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
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path


def write_files(run_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write already-rendered files (e.g. PNGs) into the run directory; returns their paths."""
    written = []
    for name, content in files.items():
        path = Path(run_dir) / name
        path.write_bytes(content)
        written.append(path)
    return written
