"""Experiment tracking through Accelerate's trackers (`--report-to tensorboard,mlflow,wandb`).

What is logged, from the main process only:
- every `--log-every` optimizer steps: the mean training loss since the last log, and the
  learning rate (`train/loss`, `train/learning_rate`);
- every epoch: the validation loss and metrics, as history.json has them (`val/...`);
- at the start: the resolved config as hyperparameters; at the end: the test metrics
  (`test/...`) and, for MLflow, the best model, the pictures and the report as artefacts.

Logs reach the trackers when a checkpoint is written (each epoch, or every `--save-every`
steps) and at the end. A run that crashes loses only what came after its last checkpoint, and
`--resume` logs that again from the checkpoint, into the same tracked run (its MLflow and W&B
run ids are saved with the checkpoint): no step is logged twice.

TensorBoard writes under the run directory (`runs/NAME/tensorboard/`); MLflow to
`--tracking-uri` (default `sqlite:///<output_dir>/mlflow.db`, artefacts in
`<output_dir>/mlartifacts/`).
"""

from __future__ import annotations

import importlib.util
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import ConfigError
from newsclf.task import METRICS
from newsclf.tracking_names import TRACKER_PACKAGES, trackers

if TYPE_CHECKING:
    from accelerate import Accelerator
    from accelerate.tracking import GeneralTracker

    from newsclf.config import TrainConfig
    from newsclf.training.history import EpochRow

TRACKING_EXTRA = ("tensorboard", "mlflow")  # what `pip install 'newsclf[tracking]'` brings
EXPERIMENT = "newsclf"  # the MLflow experiment and W&B project every run is logged under
TENSORBOARD_DIR = "tensorboard"
ARTEFACTS = ("training_progress.png", "confusion_matrix.png", "label_cooccurrence.png",
             "threshold_curve.png", "reliability_diagram.png", "report.html", "history.json",
             "test_metrics.json")  # fmt: skip


def tracking_uri(cfg: TrainConfig) -> str:
    """Where MLflow logs: --tracking-uri, else an SQLite store beside the runs."""
    return cfg.tracking_uri or f"sqlite:///{Path(cfg.output_dir).resolve() / 'mlflow.db'}"


def check_tracking(cfg: TrainConfig) -> None:
    """Every tracker asked for can start: its package is installed and (MLflow) its store is
    reachable. Checked before any slow work."""
    for name in trackers(cfg.report_to):
        package = TRACKER_PACKAGES[name]
        if importlib.util.find_spec(package) is None:
            extra = "'newsclf[tracking]', or pip install " if name in TRACKING_EXTRA else ""
            raise ConfigError(
                f"--report-to {name} needs the {package} package, which is not installed. "
                f"Install it (pip install {extra}{package}), or drop {name} from --report-to."
            )
    if "mlflow" in trackers(cfg.report_to):
        _check_mlflow_uri(tracking_uri(cfg))


def _check_mlflow_uri(uri: str) -> None:
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3).close()
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ConfigError(
                f"--tracking-uri {uri} cannot be reached ({reason}). Start the MLflow server "
                "(mlflow server --host 127.0.0.1 --port 5000), or pass another --tracking-uri."
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            raise ConfigError(
                f"--tracking-uri {uri}: {existing} is not writable. Pass a --tracking-uri in "
                "a folder you can write to."
            )


class Tracking:
    """The trackers of one run, and the logs waiting for the next checkpoint."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resumed: dict[str, str] | None) -> None:
        self.cfg, self.run_dir, self.resumed = cfg, Path(run_dir), resumed
        self.names = trackers(cfg.report_to)
        self.pending: list[tuple[dict[str, float], int]] = []
        self.accelerator: Accelerator | None = None

    @classmethod
    def off(cls) -> Tracking:
        """No trackers: what `fit` uses when none are asked for."""
        from newsclf.config import TrainConfig

        return cls(TrainConfig(), Path("."), None)

    @property
    def enabled(self) -> bool:
        return bool(self.names)

    def make_trackers(self) -> list[GeneralTracker]:
        """Tracker objects for `Accelerator(log_with=...)`, set to continue resumed runs."""
        from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

        ids, made = self.resumed or {}, []
        for name in self.names:
            if name == "tensorboard":
                made.append(TensorBoardTracker(TENSORBOARD_DIR, self.run_dir))
            elif name == "mlflow":
                import mlflow

                mlflow.set_tracking_uri(tracking_uri(self.cfg))
                artefacts = (Path(self.cfg.output_dir) / "mlartifacts").resolve().as_uri()
                made.append(MLflowTracker(EXPERIMENT, artefacts, ids.get("mlflow"), run_name=self.cfg.name))  # fmt: skip
            else:
                extra = {"id": ids["wandb"], "resume": "allow"} if "wandb" in ids else {}
                made.append(WandBTracker(EXPERIMENT, name=self.cfg.name, **extra))
        return made

    def start(self, accelerator: Accelerator) -> None:
        """Start the trackers; a new run logs its config as hyperparameters."""
        self.accelerator = accelerator
        config = None if self.resumed else hyperparameters(self.cfg)
        accelerator.init_trackers(EXPERIMENT, config=config)

    def ids(self) -> dict[str, str]:
        """The tracked runs' ids, saved with each checkpoint so a resumed run continues them."""
        out = {}
        for tracker in self.accelerator.trackers if self.accelerator else []:
            if tracker.name == "mlflow":
                out["mlflow"] = tracker.active_run.info.run_id
            elif tracker.name == "wandb":
                out["wandb"] = tracker.run.id
        return out

    def add(self, values: dict[str, float], step: int) -> None:
        if self.enabled:
            self.pending.append((values, step))

    def add_epoch(self, row: EpochRow, step: int) -> None:
        """An epoch's validation scores, as history.json holds them."""
        values = {"val/loss": row.val_loss, "val/accuracy": row.val_accuracy, "val/f1": row.val_f1}
        values["train/epoch_loss"] = row.train_loss
        for name in (*METRICS["multi-label"], "hamming_loss", "threshold"):
            if row.val_metrics and name in row.val_metrics:
                values[f"val/{name}"] = row.val_metrics[name]
        self.add(values, step)

    def flush(self) -> None:
        """Hand the waiting logs to the trackers (called once a checkpoint is complete)."""
        if self.accelerator is None:
            return
        for values, step in self.pending:
            self.accelerator.log(values, step=step)
        self.pending.clear()
        for tracker in self.accelerator.trackers:
            if tracker.name == "tensorboard":
                tracker.writer.flush()

    def finish(self, run_dir: Path, test_metrics: dict[str, Any], step: int) -> None:
        """The test metrics, MLflow's artefacts, and the end of every tracked run."""
        if self.accelerator is None:
            return
        scores = {k: v for k, v in test_metrics.items() if isinstance(v, int | float)}
        self.add({f"test/{k}": float(v) for k, v in scores.items() if k != "best_epoch"}, step)
        self.flush()
        for tracker in self.accelerator.trackers:
            if tracker.name == "mlflow":
                _log_artefacts(run_dir)
            tracker.finish()

    def abort(self) -> None:
        """A run that stops with an error: what waits for a checkpoint is dropped (a resume
        logs it again), and the tracked runs end as killed, to be continued by `--resume`."""
        self.pending.clear()
        for tracker in self.accelerator.trackers if self.accelerator else []:
            if tracker.name == "mlflow":
                import mlflow

                mlflow.end_run(status="KILLED")
            else:
                tracker.finish()


def _log_artefacts(run_dir: Path) -> None:
    import mlflow

    mlflow.log_artifacts(str(run_dir / "best_model"), artifact_path="best_model")
    for name in ARTEFACTS:
        if (run_dir / name).is_file():
            mlflow.log_artifact(str(run_dir / name))


def hyperparameters(cfg: TrainConfig) -> dict[str, str | int | float | bool]:
    """The resolved config as trackers take it: lists joined by commas, None as 'none'."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in cfg.to_dict().items():
        if isinstance(value, list):
            value = ",".join(map(str, value))
        out[key] = "none" if value is None else value
    return out
