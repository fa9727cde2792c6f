"""Out-of-sample probabilities by cross-fitting: the rows cut into k folds, each fold's
probabilities given by a model fitted on the other k-1, so no row is scored by a model that saw
its label (confident learning flags correct rows otherwise).

Three ways, measured in docs/audit.md by planted label errors found per minute on 2 cores:
- `tfidf` (the default: by far the most errors found per minute): TF-IDF over word 1-2 grams,
  logistic regression per fold;
- `embeddings`: the texts embedded once by a frozen encoder (mean-pooled), logistic regression
  per fold on the vectors;
- `both`: the two sets of probabilities averaged (the most errors found, in minutes rather than
  seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsclf.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np

METHODS = ("tfidf", "embeddings", "both")
DEFAULT_METHOD = "tfidf"
DEFAULT_FOLDS = 5
# Inverse regularisation of the logistic regressions (docs/audit.md).
TFIDF_C = 10.0
EMBEDDING_C = 10.0


@dataclass
class CrossFit:
    probabilities: np.ndarray  # [N, C] out-of-sample: softmax rows, or a sigmoid per tag
    method: str
    folds: int
    seconds: dict[str, float]  # time per stage ("embed", "tfidf", "embeddings")


def check_method(method: str, folds: int) -> None:
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: expected one of {', '.join(METHODS)}.")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ConfigError(f"folds={folds!r}: expected a whole number >= 2, e.g. 5.")


def fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row's fold: stratified by class (by tag sets, iteratively, for multi-label)."""
    import numpy as np

    n = len(labels)
    if labels.ndim == 2:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(labels)
        fewest = int(counts[counts > 0].min())
        if fewest < folds:
            raise DataError(
                f"A class has {fewest} rows, fewer than the {folds} folds: each fold needs a "
                "row of every class to be scored out of sample. Pass --folds "
                f"{max(fewest, 2)}, or add rows to the rarest classes."
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = np.empty(n, dtype=np.int64)
    for fold, (_, held) in enumerate(splitter.split(np.zeros(n), labels)):
        out[held] = fold
    return out


def cross_fit_features(
    features: object,
    labels: np.ndarray,
    folds: np.ndarray,
    c: float,
    seed: int,
    solver: str = "lbfgs",
) -> np.ndarray:
    """Out-of-fold probabilities of a logistic regression on `features` (a matrix, dense or
    sparse): one fit per fold, on the other folds' rows."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    multi = labels.ndim == 2
    width = labels.shape[1] if multi else int(labels.max()) + 1
    out = np.zeros((len(labels), width))
    for fold in np.unique(folds):
        held, fit = folds == fold, folds != fold
        model = LogisticRegression(C=c, solver=solver, tol=1e-3, max_iter=2000, random_state=seed)
        if multi:
            model = OneVsRestClassifier(model)
        model.fit(features[fit], labels[fit])
        probs = model.predict_proba(features[held])
        if multi:
            out[held] = probs
        else:  # a class absent from the fitted folds keeps probability 0
            out[np.ix_(held, model.classes_)] = probs
    return out


def tfidf_features(texts: Sequence[str]) -> object:
    """TF-IDF over word 1-2 grams (sublinear counts). Fitted on every row's text, without
    labels, so no label leaks into a fold."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2).fit_transform(texts)


def cross_fit(
    texts: Sequence[str],
    labels: np.ndarray,
    method: str = DEFAULT_METHOD,
    folds: int = DEFAULT_FOLDS,
    seed: int = 42,
    encoder: str | None = None,
    progress: bool = False,
) -> CrossFit:
    """Out-of-sample probabilities for every row by `method` over `folds` folds."""
    import time

    import numpy as np

    from newsclf.audit.embeddings import embed

    check_method(method, folds)
    labels = np.asarray(labels)
    ids = fold_ids(labels, folds, seed)
    sets, seconds = [], {}
    if method in ("tfidf", "both"):
        start = time.perf_counter()
        # saga: 25x faster than lbfgs on the sparse TF-IDF matrix, same accuracy (docs/audit.md).
        features = tfidf_features(texts)
        sets.append(cross_fit_features(features, labels, ids, TFIDF_C, seed, solver="saga"))
        seconds["tfidf"] = time.perf_counter() - start
    if method in ("embeddings", "both"):
        start = time.perf_counter()
        vectors = embed(texts, encoder, progress=progress).mean
        seconds["embed"] = time.perf_counter() - start
        start = time.perf_counter()
        sets.append(cross_fit_features(vectors, labels, ids, EMBEDDING_C, seed))
        seconds["embeddings"] = time.perf_counter() - start
    return CrossFit(np.mean(sets, axis=0), method, folds, seconds)
