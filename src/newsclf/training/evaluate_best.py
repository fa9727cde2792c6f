"""The end of a run: the saved best model (calibrated by then, `newsclf.training.calibrate`),
loaded as a user would load it, scored on the test split, with the calibration's effect on
test (ECE and log loss before and after); then the model card, the pictures and the report
from what is already in memory.

A multi-label model's thresholds (tuned on validation, on the calibrated probabilities, in its
config.json) are also written to thresholds.json with the validation metric at every threshold
(the curve the report draws); the model card, best_model/README.md, lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.evaluation import format_report, format_samples, format_trust, score_split
from newsclf.evaluation.calibration import calibration_scores, reliability_of
from newsclf.evaluation.thresholds import grid, threshold_curve
from newsclf.inference import Classifier
from newsclf.inference.classifier import sigmoid, softmax
from newsclf.model_dir import model_config
from newsclf.quiet import show_progress
from newsclf.task import CALIBRATION_KEY
from newsclf.training.calibrate import uncalibrated_logits
from newsclf.training.console import say

if TYPE_CHECKING:
    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.inference import Inference
    from newsclf.training.history import History


def evaluate_best_model(
    cfg: TrainConfig, data: LoadedData, run_dir: Path, history: History, score_test: bool = True
) -> dict[str, Any]:
    """Score best_model/ on the test split, write test_metrics.json, the model card (and the
    visuals). Without `score_test` (a search trial), only what validation decided is written."""
    from newsclf.report.model_card import CardContent, write_model_card  # numpy, via report/

    model_dir = run_dir / rundir.BEST_MODEL
    classifier = Classifier.from_pretrained(model_dir, precision=cfg.precision)
    calibration = model_config(model_dir).get(CALIBRATION_KEY)
    thresholds = None
    if classifier.multi_label:
        thresholds = _thresholds(cfg, data, classifier, history.metric)
        rundir.write_json(run_dir / rundir.THRESHOLDS_JSON, thresholds)
    card = CardContent(cfg, data.summary(), history.to_dict(), None, calibration, thresholds)
    if not score_test:
        write_model_card(model_dir, card)
        return {}
    test = data.splits["test"]
    labels = data.label_matrix("test").tolist()
    metrics, inference = score_split(
        classifier,
        test["text"],
        labels,
        "test",
        batch_size=cfg.eval_batch_size,
        return_embeddings=cfg.visuals,
        progress=show_progress(cfg.quiet),
    )
    metrics["best_epoch"] = history.best_epoch
    if calibration:
        metrics["calibration"] = calibration_effect(calibration, inference, labels, metrics)
    rundir.write_json(run_dir / rundir.TEST_METRICS_JSON, metrics)
    card.metrics = metrics
    write_model_card(model_dir, card)
    say(f"\nTest set, {history.saved}:\n{format_report(metrics)}")
    say(format_trust(metrics))
    say("\nSample predictions:\n" + format_samples(metrics["samples"]))
    if cfg.visuals:
        from newsclf.report import write_visuals

        written = write_visuals(
            run_dir, data, inference, cfg, history.to_dict(), metrics, thresholds
        )
        for path in written:
            say(f"wrote {path.name}")
    return metrics


def calibration_effect(
    info: dict[str, Any], inference: Inference, labels: list, metrics: dict[str, Any]
) -> dict[str, Any]:
    """What the calibration did on these rows: ECE and log loss before (the logits unfolded)
    and after (the probabilities answered), and the reliability table before."""
    raw = uncalibrated_logits(inference.logits, info)
    before = sigmoid(raw) if inference.thresholds is not None else softmax(raw)
    return {
        **info,
        "before": calibration_scores(before, labels),
        "after": {"ece": metrics["ece"], "log_loss": metrics["log_loss"]},
        "reliability_before": reliability_of(before, labels),
    }


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
