"""Why a text got its label: a score per word for one class (the predicted one by default).

    clf.explain("Federer wins his fifth Wimbledon title")[0].words[0]   # ('Federer', 0.41)

Two methods, one answer shape:
- `gradients` (the PyTorch backend's default): integrated gradients (Sundararajan et al.
  2017, with captum) on the word embeddings' output, from a baseline where every word is the
  pad token, summed over the hidden dimension; `newsclf.inference.gradients`.
- `occlusion` (the ONNX backend's, which has no gradients; any backend can use it): each word
  deleted from the text in turn; its score is how much the class's probability falls.

Tokens are merged into the words the tokenizer split the text into (a word's score is the sum
of its pieces'), in text order, and scaled so the absolute scores sum to 1: a positive score
pushes towards the class, a negative one away from it. Texts are read the way the backend
reads them for a prediction (`read_for_explain`): words past the model's max length are not
read, and the explanation says it was truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newsclf.errors import InputError
from newsclf.inference.reading import Explained, Reading, read_for_explain

if TYPE_CHECKING:
    import numpy as np


METHODS = ("auto", "gradients", "occlusion")
DEFAULT_STEPS = 32  # integrated-gradients steps (docs/explain.md measures the cost)


@dataclass
class Explanation:
    text: str
    label: str  # the class explained
    probability: float  # the model's probability of that class for this text
    words: list[tuple[str, float]]  # (word, score) in text order
    method: str  # "gradients" or "occlusion"
    truncated: bool = False  # words past the max length were not read

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "probability": round(self.probability, 6),
            "method": self.method,
            "truncated": self.truncated,
            "words": [{"word": w, "score": round(s, 6)} for w, s in self.words],
        }


def normalise(scores: np.ndarray) -> np.ndarray:
    """Scores scaled so their absolute values sum to 1 (all zero stays all zero)."""
    import numpy as np

    total = float(np.abs(scores).sum())
    return scores / total if total > 0 else scores


def explain(
    classifier: Explained,
    texts: str | Sequence[str],
    label: str | None = None,
    method: str = "auto",
    steps: int = DEFAULT_STEPS,
) -> list[Explanation]:
    """An explanation per text for `label` (default: each text's predicted class; for a
    multi-label model its most probable tag)."""
    from newsclf.config import require_positive
    from newsclf.texts import check_texts

    texts = check_texts([texts] if isinstance(texts, str) else list(texts))
    method = _method(classifier, method)
    require_positive(steps, "steps")
    if label is not None and label not in classifier.label_names:
        raise InputError(
            f"label={label!r} is not a class of this model: expected one of "
            f"{classifier.label_names}. Pass one of them, or omit it to explain the prediction."
        )
    probabilities = classifier.infer(texts).probabilities
    out = []
    for text, row in zip(texts, probabilities, strict=True):
        target = classifier.label_names.index(label) if label else int(row.argmax())
        reading = read_for_explain(classifier, text)
        if method == "gradients":
            from newsclf.inference.gradients import word_gradients

            scores = word_gradients(classifier, target, reading, steps)
        else:
            scores = word_occlusion(classifier, text, target, reading, float(row[target]))
        words = [text[a:b] for a, b in reading.spans]
        out.append(Explanation(
            text, classifier.label_names[target], float(row[target]),
            list(zip(words, normalise(scores).tolist(), strict=True)), method, reading.truncated,
        ))  # fmt: skip
    return out


def _method(classifier: Explained, method: str) -> str:
    if method not in METHODS:
        raise InputError(f"method={method!r}: expected one of {', '.join(METHODS)}.")
    has_gradients = hasattr(classifier.backend, "model")
    if method == "gradients" and not has_gradients:
        raise InputError(
            "method='gradients' needs the PyTorch model; this is an ONNX export, which has no "
            "gradients. Use method='occlusion' (the default for an export), or load the "
            "PyTorch model it was exported from."
        )
    if method == "auto":
        return "gradients" if has_gradients else "occlusion"
    return method


def word_occlusion(
    classifier: Explained, text: str, target: int, reading: Reading, probability: float
) -> np.ndarray:
    """Per word: the class's probability with the whole text, less that with the word deleted
    (every deletion scored in one batch)."""
    import numpy as np

    if not reading.spans:
        return np.zeros(0)
    variants = [" ".join((text[:a] + " " + text[b:]).split()) or "." for a, b in reading.spans]
    without = classifier.infer(variants).probabilities[:, target]
    return probability - without
