"""The report's "why" section: a few misclassified test texts explained word by word
(`Classifier.explain`), the most confidently wrong first. Written after training to
explanations.json (the report is redrawn from it by `newsclf report RUN`); kept cheap: at most
MISTAKES texts, single-label runs only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from newsclf.inference import Inference

MISTAKES = 3


def explain_mistakes(
    model_dir: Path,
    texts: Sequence[str],
    true: np.ndarray,
    inference: Inference,
    label_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Up to MISTAKES misclassified texts, the most confident first: each explanation (for the
    predicted class) with the true label."""
    import numpy as np

    from newsclf.inference import Classifier

    predicted = np.asarray(inference.predicted)
    if predicted.ndim != 1:
        return []
    wrong = np.flatnonzero(predicted != np.asarray(true))
    confidence = inference.probabilities[wrong, predicted[wrong]]
    picked = wrong[np.argsort(-confidence, kind="stable")[:MISTAKES]]
    if not len(picked):
        return []
    classifier = Classifier.from_pretrained(model_dir)
    explanations = classifier.explain([texts[int(i)] for i in picked])
    return [
        {**e.to_dict(), "true": label_names[int(true[i])], "row": int(i)}
        for e, i in zip(explanations, picked, strict=True)
    ]


def shaded_words(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    """Each word with the colour the page shades it: green towards the explained class, red
    away, as strong as its score relative to the text's strongest."""
    top = max((abs(w["score"]) for w in explanation["words"]), default=0.0) or 1.0
    out = []
    for w in explanation["words"]:
        alpha = round(0.6 * abs(w["score"]) / top, 3)
        rgb = "26, 127, 55" if w["score"] >= 0 else "207, 34, 46"
        out.append({"word": w["word"], "score": w["score"], "background": f"rgba({rgb}, {alpha})"})
    return out
