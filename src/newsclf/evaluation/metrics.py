"""Metrics, in one place: what a model scores on labelled texts (accuracy, macro-F1, per class,
confusion matrix), and how they are printed. Validation, test, evaluate and the baseline all
compute them here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsclf.inference import Inference


def compute_metrics(
    labels: Sequence[int], predicted: Sequence[int], label_names: list[str]
) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
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
    lines.append(
        f"accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"on {metrics['num_samples']:,} {metrics.get('split', '')} rows"
    )
    lines.append("confusion matrix (rows: true, columns: predicted):")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{width}} " + " ".join(f"{c:6d}" for c in row))
    return "\n".join(lines)


def format_samples(samples: list[dict[str, Any]], width: int = 70) -> str:
    lines = []
    for s in samples:
        mark = "ok " if s["label"] == s["predicted"] else "MISS"
        text = s["text"] if len(s["text"]) <= width else s["text"][: width - 3] + "..."
        lines.append(
            f"  {mark} {s['predicted']:<10} ({s['confidence']:.2f})  true {s['label']:<10} {text}"
        )
    return "\n".join(lines)
