"""Evaluation: the metrics (`metrics`) and `newsclf evaluate` (`evaluate`)."""

from newsclf.evaluation.evaluate import evaluate, score_split
from newsclf.evaluation.metrics import (
    compute_metrics,
    format_report,
    format_samples,
    format_trust,
    sample_predictions,
)

__all__ = [
    "compute_metrics",
    "evaluate",
    "format_report",
    "format_samples",
    "format_trust",
    "sample_predictions",
    "score_split",
]
