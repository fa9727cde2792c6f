"""The end of a run: the saved best model, loaded as a user would load it, scored on the test
split; then the pictures and the report from what is already in memory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.evaluation import format_report, format_samples, score_split
from newsclf.inference import Classifier
from newsclf.quiet import show_progress
from newsclf.training.console import say

if TYPE_CHECKING:
    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.training.history import History


def evaluate_best_model(
    cfg: TrainConfig, data: LoadedData, run_dir: Path, history: History
) -> dict[str, Any]:
    """Score best_model/ on the test split, write test_metrics.json (and the visuals)."""
    classifier = Classifier.from_pretrained(run_dir / rundir.BEST_MODEL, precision=cfg.precision)
    test = data.splits["test"]
    metrics, inference = score_split(
        classifier,
        test["text"],
        test["label"],
        "test",
        batch_size=cfg.eval_batch_size,
        return_embeddings=cfg.visuals,
        progress=show_progress(cfg.quiet),
    )
    metrics["best_epoch"] = history.best_epoch
    rundir.write_json(run_dir / rundir.TEST_METRICS_JSON, metrics)
    say(f"\nTest set, best epoch {history.best_epoch}:\n{format_report(metrics)}")
    say("\nSample predictions:\n" + format_samples(metrics["samples"]))
    if cfg.visuals:
        from newsclf.report import write_visuals

        for path in write_visuals(run_dir, data, inference, cfg, history.to_dict(), metrics):
            say(f"wrote {path.name}")
    return metrics
