"""The end of a run: the saved best model, loaded as a user would load it, scored on the test
split; then the pictures and the report from what is already in memory.

A multi-label model's thresholds (tuned on validation while training, in its config.json) are
also written to thresholds.json with the validation metric at every threshold (the curve the
report draws), and shown in a model card, best_model/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.evaluation import format_report, format_samples, score_split
from newsclf.evaluation.thresholds import grid, threshold_curve
from newsclf.inference import Classifier
from newsclf.quiet import show_progress
from newsclf.task import METRIC_NAMES, THRESHOLDS_KEY
from newsclf.training.console import say

if TYPE_CHECKING:
    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.training.history import History


def evaluate_best_model(
    cfg: TrainConfig, data: LoadedData, run_dir: Path, history: History, score_test: bool = True
) -> dict[str, Any]:
    """Score best_model/ on the test split, write test_metrics.json (and the visuals). Without
    `score_test` (a search trial), only what validation decided is written."""
    classifier = Classifier.from_pretrained(run_dir / rundir.BEST_MODEL, precision=cfg.precision)
    thresholds = None
    if classifier.multi_label:
        thresholds = _thresholds(cfg, data, classifier, history.metric)
        rundir.write_json(run_dir / rundir.THRESHOLDS_JSON, thresholds)
        _write_model_card(run_dir / rundir.BEST_MODEL, thresholds, history)
    if not score_test:
        return {}
    test = data.splits["test"]
    metrics, inference = score_split(
        classifier,
        test["text"],
        data.label_matrix("test").tolist(),
        "test",
        batch_size=cfg.eval_batch_size,
        return_embeddings=cfg.visuals,
        progress=show_progress(cfg.quiet),
    )
    metrics["best_epoch"] = history.best_epoch
    rundir.write_json(run_dir / rundir.TEST_METRICS_JSON, metrics)
    say(f"\nTest set, {history.saved}:\n{format_report(metrics)}")
    say("\nSample predictions:\n" + format_samples(metrics["samples"]))
    if cfg.visuals:
        from newsclf.report import write_visuals

        written = write_visuals(
            run_dir, data, inference, cfg, history.to_dict(), metrics, thresholds
        )
        for path in written:
            say(f"wrote {path.name}")
    return metrics


def _thresholds(
    cfg: TrainConfig, data: LoadedData, classifier: Classifier, metric: str
) -> dict[str, Any]:
    """thresholds.json: the tuned thresholds and the validation metric at every threshold."""
    validation = data.splits["validation"]
    probs = classifier.infer(validation["text"], batch_size=cfg.eval_batch_size).probabilities
    curve = threshold_curve(probs, data.label_matrix("validation"), metric)
    return {
        "mode": cfg.thresholds,
        "metric": metric,
        "thresholds": dict(
            zip(classifier.label_names, map(float, classifier.thresholds), strict=True)
        ),
        "validation_curve": {"threshold": grid().tolist(), metric: curve.round(5).tolist()},
    }


def _write_model_card(model_dir: Path, thresholds: dict[str, Any], history: History) -> None:
    """best_model/README.md: what the model answers and the thresholds to use with it."""
    metric = METRIC_NAMES[thresholds["metric"]]
    rows = "\n".join(f"| {name} | {t:.2f} |" for name, t in thresholds["thresholds"].items())
    best = history.best.score(thresholds["metric"])
    text = f"""# Multi-label text classifier (newsclf)

Each class gets its own sigmoid probability; a class applies when its probability reaches its
threshold below. The thresholds were tuned on the validation split ({thresholds["mode"]}, by
validation {metric}: {best:.4f}, {history.saved}); they are also in
`config.json` under `{THRESHOLDS_KEY}`.

```python
from transformers import pipeline
scores = pipeline("text-classification", model="THIS_DIR", top_k=None)("some text")
```

| class | threshold |
| --- | ---: |
{rows}
"""
    (model_dir / "README.md").write_text(text, encoding="utf-8")
