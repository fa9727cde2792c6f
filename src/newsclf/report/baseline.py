"""The classical baseline the report compares the transformer with: TF-IDF over word 1-2 grams
and a linear SVM, fitted on the same training rows and scored on the same test rows, so the
report can show what the transformer buys (accuracy) and what it costs (training seconds)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from newsclf.errors import DataError

BASELINE_NAME = "TF-IDF (word 1-2 grams) + LinearSVC"


@dataclass
class Baseline:
    metrics: dict[str, Any]  # what baseline_metrics.json holds (docs/run-directory.md)
    pipeline: Any  # the fitted sklearn pipeline: texts in, label ids out
    label_names: list[str]

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Class names for `texts`."""
        return [self.label_names[int(i)] for i in self.pipeline.predict(list(texts))]


def fit_baseline(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    test_labels: Sequence[int],
    label_names: Sequence[str],
    seed: int = 42,
) -> Baseline:
    """Fit TF-IDF + LinearSVC on train, score on test (same metrics as the transformer's)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from newsclf.evaluation.metrics import compute_metrics

    if len(set(train_labels)) < 2:
        raise DataError(
            "The baseline needs at least 2 classes in the training rows, "
            f"got {sorted(set(train_labels))}."
        )
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LinearSVC(random_state=seed),
    )
    start = time.perf_counter()
    pipeline.fit(list(train_texts), list(train_labels))
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = pipeline.predict(list(test_texts))
    predict_seconds = time.perf_counter() - start
    metrics = {
        "model": BASELINE_NAME,
        "train_rows": len(train_texts),
        "test_rows": len(test_texts),
        "features": len(pipeline[0].vocabulary_),
        "train_seconds": round(train_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        **compute_metrics(list(test_labels), predicted, list(label_names)),
    }
    return Baseline(metrics, pipeline, list(label_names))
