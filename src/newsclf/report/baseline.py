"""The classical baseline the report compares the transformer with: TF-IDF over word 1-2 grams
and a linear SVM (one-vs-rest, one SVM per tag, for multi-label data), fitted on the same
training rows and scored on the same test rows, so the report can show what the transformer
buys (accuracy, micro-F1) and what it costs (training seconds)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from newsclf.errors import DataError
from newsclf.evaluation.metrics import compute_metrics, tag_names

BASELINE_NAME = "TF-IDF (word 1-2 grams) + LinearSVC"
MULTI_LABEL_BASELINE_NAME = "TF-IDF (word 1-2 grams) + one-vs-rest LinearSVC"


@dataclass
class Baseline:
    metrics: dict[str, Any]  # what baseline_metrics.json holds (docs/run-directory.md)
    pipeline: Any  # the fitted sklearn pipeline: texts in, label ids (or 0/1 rows) out
    label_names: list[str]

    def predict(self, texts: Sequence[str]) -> list[str]:
        """Class names for `texts` (tag sets joined by '|' for multi-label)."""
        predicted = self.pipeline.predict(list(texts))
        if predicted.ndim == 2:
            return [tag_names(row, self.label_names) for row in predicted]
        return [self.label_names[int(i)] for i in predicted]


def fit_baseline(
    train_texts: Sequence[str],
    train_labels: Sequence[int] | Sequence[Sequence[int]],
    test_texts: Sequence[str],
    test_labels: Sequence[int] | Sequence[Sequence[int]],
    label_names: Sequence[str],
    seed: int = 42,
) -> Baseline:
    """Fit TF-IDF + LinearSVC on train, score on test (same metrics as the transformer's).
    Labels are class ids, or 0/1 rows for multi-label data (one SVM per tag, predicting the
    tag where its decision value is positive)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    train_y, test_y = np.asarray(train_labels), np.asarray(test_labels)
    multi = train_y.ndim == 2
    if not multi and len(set(train_y.tolist())) < 2:
        raise DataError(
            "The baseline needs at least 2 classes in the training rows, "
            f"got {sorted(set(train_y.tolist()))}."
        )
    svm = LinearSVC(random_state=seed)
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        OneVsRestClassifier(svm) if multi else svm,
    )
    start = time.perf_counter()
    pipeline.fit(list(train_texts), train_y)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = pipeline.predict(list(test_texts))
    predict_seconds = time.perf_counter() - start
    metrics = {
        "model": MULTI_LABEL_BASELINE_NAME if multi else BASELINE_NAME,
        "train_rows": len(train_texts),
        "test_rows": len(test_texts),
        "features": len(pipeline[0].vocabulary_),
        "train_seconds": round(train_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        **compute_metrics(test_y, predicted, list(label_names)),
    }
    return Baseline(metrics, pipeline, list(label_names))
