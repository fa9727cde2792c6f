"""Metrics, in one place: what a model scores on labelled texts, and how they are printed.
Validation, test, evaluate and the baseline all compute them here.

Single-label: accuracy, macro-F1, per class, the confusion matrix. Multi-label (0/1 matrices,
rows x classes): micro-, macro- and samples-F1, subset accuracy, Hamming loss, per class, and
one 2x2 confusion matrix per class, with the thresholds that made the predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from newsclf.evaluation.calibration import calibration_words
from newsclf.reading import summary_line
from newsclf.task import METRICS, MULTI_LABEL, SINGLE_LABEL

if TYPE_CHECKING:
    import numpy as np

    from newsclf.inference import Inference

NO_TAG = "(none)"  # how an empty tag set is shown


def compute_metrics(
    labels: Sequence[int] | np.ndarray,
    predicted: Sequence[int] | np.ndarray,
    label_names: list[str],
    thresholds: Sequence[float] | None = None,
) -> dict:
    """Single-label (class ids): accuracy, macro-F1, per-class precision/recall/F1/support and
    the confusion matrix. Multi-label (0/1 matrices): see `multilabel_metrics`."""
    import numpy as np

    if np.asarray(labels).ndim == 2:
        return multilabel_metrics(
            np.asarray(labels), np.asarray(predicted), label_names, thresholds
        )
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=ids, zero_division=0
    )
    return {
        "task": SINGLE_LABEL,
        "num_samples": len(labels),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(
            f1_score(labels, predicted, labels=ids, average="macro", zero_division=0)
        ),
        "label_names": list(label_names),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=ids).tolist(),
    }


def multilabel_metrics(
    labels: np.ndarray,
    predicted: np.ndarray,
    label_names: list[str],
    thresholds: Sequence[float] | None = None,
) -> dict:
    """Micro/macro/samples-F1, subset accuracy, Hamming loss, per class, per-class 2x2
    confusion ([[tn, fp], [fn, tp]]), and the thresholds the predictions were made with."""
    from sklearn.metrics import (
        hamming_loss,
        multilabel_confusion_matrix,
        precision_recall_fscore_support,
    )

    precision, recall, class_f1, support = precision_recall_fscore_support(
        labels, predicted, zero_division=0
    )
    confusion = multilabel_confusion_matrix(labels, predicted)
    return {
        "task": MULTI_LABEL,
        "num_samples": len(labels),
        **{m: multilabel_score(labels, predicted, m) for m in METRICS[MULTI_LABEL]},
        "hamming_loss": float(hamming_loss(labels, predicted)),
        "label_cardinality": {
            "true": float(labels.sum(axis=1).mean()) if len(labels) else 0.0,
            "predicted": float(predicted.sum(axis=1).mean()) if len(labels) else 0.0,
        },
        "label_names": list(label_names),
        "thresholds": None
        if thresholds is None
        else dict(zip(label_names, map(float, thresholds), strict=True)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(class_f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrices": {name: confusion[i].tolist() for i, name in enumerate(label_names)},
    }


def multilabel_score(labels: np.ndarray, predicted: np.ndarray, metric: str) -> float:
    """micro_f1, macro_f1, samples_f1 or subset_accuracy of 0/1 matrices (rows x classes).

    A class never true and never predicted scores F1 0 in the macro average (scikit-learn's
    convention); a row with no true and no predicted tag is right, so it scores F1 1 in the
    samples average."""
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "subset_accuracy":
        return float(accuracy_score(labels, predicted))
    average = metric.removesuffix("_f1")
    empty = 1.0 if average == "samples" else 0.0
    return float(f1_score(labels, predicted, average=average, zero_division=empty))


def tag_names(row: np.ndarray, label_names: Sequence[str]) -> str:
    """A 0/1 row as the names it holds, joined by '|' ((none) for an empty set)."""
    return "|".join(n for n, on in zip(label_names, row, strict=True) if on) or NO_TAG


def sample_predictions(
    texts: Sequence[str],
    labels: Sequence[int],
    inference: Inference,
    label_names: list[str],
    n: int = 8,
) -> list[dict[str, Any]]:
    """A few rows spread over the split, so the samples are not all from one class."""
    step = max(1, len(texts) // n)
    rows = list(range(0, len(texts), step))[:n]
    probs, predicted = inference.probabilities, inference.predicted
    if predicted.ndim == 2:  # multi-label: tag sets, and the top tag's probability
        return [
            {
                "text": texts[i],
                "label": tag_names(labels[i], label_names),
                "predicted": tag_names(predicted[i], label_names),
                "confidence": float(probs[i].max()),
            }
            for i in rows
        ]
    return [
        {
            "text": texts[i],
            "label": label_names[labels[i]],
            "predicted": label_names[predicted[i]],
            "confidence": float(probs[i, predicted[i]]),
        }
        for i in rows
    ]


def format_report(metrics: dict) -> str:
    """The per-class table and headline numbers, as printed by `newsclf evaluate` and `train`."""
    names = metrics["label_names"]
    width = max(10, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  "
            f"{row['support']:7d}"
        )
    if "reading" in metrics:  # how the texts were read, and how many were long
        lines.insert(0, summary_line(metrics["reading"]))
    if metrics.get("task") == MULTI_LABEL:
        return "\n".join([*lines, *_multilabel_lines(metrics)])
    lines.append(
        f"accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"on {metrics['num_samples']:,} {metrics.get('split', '')} rows"
    )
    lines.append("confusion matrix (rows: true, columns: predicted):")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{width}} " + " ".join(f"{c:6d}" for c in row))
    return "\n".join(lines)


def _multilabel_lines(metrics: dict) -> list[str]:
    shown = threshold_text(metrics.get("thresholds"))
    return [
        f"micro-F1 {metrics['micro_f1']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"samples-F1 {metrics['samples_f1']:.4f}  subset accuracy {metrics['subset_accuracy']:.2%}"
        f"  Hamming loss {metrics['hamming_loss']:.4f}",
        f"on {metrics['num_samples']:,} {metrics.get('split', '')} rows; threshold {shown}; "
        f"tags per row {metrics['label_cardinality']['true']:.2f} true, "
        f"{metrics['label_cardinality']['predicted']:.2f} predicted",
    ]


def threshold_text(thresholds: dict[str, float] | None) -> str:
    """One threshold ('0.35'), or the range of per-class ones."""
    values = sorted(set((thresholds or {}).values()))
    if len(values) <= 1:
        return f"{values[0]:.2f}" if values else "none"
    return f"per class, {values[0]:.2f} to {values[-1]:.2f}"


def format_samples(samples: list[dict[str, Any]], width: int = 70) -> str:
    lines = []
    for s in samples:
        mark = "ok " if s["label"] == s["predicted"] else "MISS"
        text = s["text"] if len(s["text"]) <= width else s["text"][: width - 3] + "..."
        lines.append(
            f"  {mark} {s['predicted']:<10} ({s['confidence']:.2f})  true {s['label']:<10} {text}"
        )
    return "\n".join(lines)


def format_trust(metrics: dict) -> str:
    """How far the probabilities can be trusted: ECE and log loss (before and after the
    calibration, when the metrics hold it), accuracy against coverage, and the confidence
    that reaches --target-accuracy."""
    lines = [f"calibration: ECE {metrics['ece']:.4f}  log loss {metrics['log_loss']:.4f}"]
    effect = metrics.get("calibration")
    if effect:
        how = calibration_words(effect)
        before = effect["before"]
        lines[0] += (
            f"  (calibrated: {how}; before: ECE {before['ece']:.4f}  "
            f"log loss {before['log_loss']:.4f})"
        )
    table = metrics.get("accuracy_coverage") or []
    what = "subset accuracy" if metrics.get("task") == MULTI_LABEL else "accuracy"
    lines += [
        f"  answering the most confident {r['coverage']:.0%}: {what} {r['accuracy']:.2%} "
        f"(min confidence {r['min_confidence']:.3f})"
        for r in table
        if r["answered"]
    ]
    target = metrics.get("target_accuracy")
    if target:
        lines.append(_target_line(target, what))
    return "\n".join(lines)


def _target_line(target: dict, what: str) -> str:
    if target["min_confidence"] is None:
        return f"no confidence reaches {what} {target['target']:.2%} on validation"
    val, scored = target["validation"], target["scored"]
    return (
        f"--min-confidence {target['min_confidence']:.4f} reaches {what} "
        f"{target['target']:.2%} on validation ({val['accuracy']:.2%}, answering "
        f"{val['coverage']:.1%}); here it answers {scored['coverage']:.1%} of the rows at "
        f"{what} {scored['accuracy'] or 0:.2%}"
    )
