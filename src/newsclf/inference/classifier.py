"""The Classifier users call from Python, and what it answers: a Prediction per text.

    clf = Classifier.from_pretrained("runs/demo/best_model")   # or an ONNX export
    clf.predict(["Federer wins his fifth Wimbledon title"])[0].label   # 'Sports'

A Classifier runs on a backend (`newsclf.inference.backend`): PyTorch for a saved model, ONNX
Runtime for a directory written by `newsclf export`. It turns the backend's logits into
probabilities and predictions; how texts are batched is the backend's job.

A multi-label model (config.json: `problem_type: multi_label_classification`) answers with a
sigmoid probability per class and the set of classes at or above their thresholds (tuned on
validation when newsclf trained it; 0.5 otherwise).

With `min_confidence`, an answer below it abstains: no label, the probabilities still given
(`newsclf.inference.abstention`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.config import require_positive
from newsclf.errors import ModelError
from newsclf.inference.abstention import check_min_confidence, confidence
from newsclf.model_dir import find_model_dir, is_onnx_dir
from newsclf.texts import check_texts

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.inference.backend import Backend
    from newsclf.inference.explain import Explanation
    from newsclf.reading import Reading


@dataclass
class Prediction:
    """One text's answer: the most probable class, its probability, and every class's; for a
    multi-label model also `labels`, every class at or above its threshold (maybe none).

    An answer below the caller's `min_confidence` abstains: `label` (and `labels`) None,
    `abstained` True, the probabilities still given (`abstained` is None when no
    `min_confidence` was asked for)."""

    label: str | None
    score: float
    probabilities: dict[str, float]
    labels: list[str] | None = None  # multi-label only
    abstained: bool | None = None

    @classmethod
    def from_probabilities(
        cls,
        row: np.ndarray,
        label_names: Sequence[str],
        thresholds: Sequence[float] | None = None,
        min_confidence: float | None = None,
    ) -> Prediction:
        """The one builder of a prediction, for Python, the CLI, files and the server."""
        import numpy as np

        best = int(row.argmax())
        probabilities = {name: float(p) for name, p in zip(label_names, row, strict=True)}
        tags = None
        if thresholds is not None:
            tags = [n for n, p, t in zip(label_names, row, thresholds, strict=True) if p >= t]
        if min_confidence is None:
            return cls(label_names[best], float(row[best]), probabilities, tags)
        limits = None if thresholds is None else np.asarray(thresholds)
        if confidence(np.asarray(row)[None], limits)[0] < min_confidence:
            return cls(None, float(row[best]), probabilities, None, abstained=True)
        return cls(label_names[best], float(row[best]), probabilities, tags, abstained=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"label": self.label, "score": self.score, "probabilities": self.probabilities}
        if self.labels is not None:
            out = {"labels": self.labels, **out}
        if self.abstained is not None:
            out["abstained"] = self.abstained
        return out


@dataclass
class Inference:
    """Row-aligned outputs for a list of texts."""

    probabilities: np.ndarray  # [N, C]: softmax, or a sigmoid per class for multi-label
    embeddings: np.ndarray | None = None  # [N, H]: final hidden state of the first token ([CLS])
    logits: np.ndarray | None = None  # [N, C], before the softmax or sigmoid
    thresholds: np.ndarray | None = None  # [C], multi-label only

    @property
    def predicted(self) -> np.ndarray:
        """Class ids [N]; for multi-label, the 0/1 matrix [N, C] of classes at or above their
        thresholds."""
        if self.thresholds is None:
            return self.probabilities.argmax(axis=1)
        return (self.probabilities >= self.thresholds).astype("uint8")


def softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * logits))  # no overflow for large negative logits


class Classifier:
    """A saved newsclf (or any sequence-classification) model, ready to predict.

    >>> clf = Classifier.from_pretrained("runs/demo/best_model")
    >>> clf.predict(["Federer wins his fifth Wimbledon title"])[0].label
    'Sports'
    """

    def __init__(self, backend: Backend) -> None:
        import numpy as np

        self.backend = backend
        self.task = backend.task
        self.label_names = list(backend.task.label_names)
        self.multi_label = backend.task.multi_label
        self.thresholds = np.asarray(self.task.thresholds) if self.multi_label else None

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, device: str | None = None, precision: str = "fp32"
    ) -> Classifier:
        """Load a model directory (a run's `best_model/`, or a run directory holding one).

        A directory written by `newsclf export` (it holds model.onnx) runs on ONNX Runtime on
        the CPU, without torch; `precision` then has no effect (the weights are as exported)."""
        from newsclf.inference.torch_backend import TorchBackend

        path = find_model_dir(model_dir)
        if is_onnx_dir(path):
            return cls.from_onnx(path, device)
        return cls(TorchBackend.from_dir(path, device, precision))

    @classmethod
    def from_model(
        cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, precision: str = "fp32"
    ) -> Classifier:
        """A model already in memory (on its device), e.g. one just trained."""
        from newsclf.inference.torch_backend import TorchBackend

        return cls(TorchBackend(model, tokenizer, precision))

    @classmethod
    def from_onnx(
        cls, model_dir: str | Path, device: str | None = None, threads: int | None = None
    ) -> Classifier:
        """An export (`newsclf export`) on ONNX Runtime: same outputs as the PyTorch model.
        `threads`: ONNX Runtime's intra-op threads (default 2, onnx_backend.DEFAULT_THREADS)."""
        from newsclf.inference.onnx_backend import OnnxBackend

        if device not in (None, "cpu"):
            raise ModelError(
                f"device={device!r}: an ONNX export runs on the CPU here. Pass device='cpu' "
                "(or none), or load the PyTorch model it was exported from."
            )
        return cls(OnnxBackend(find_model_dir(model_dir), threads))

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def precision(self) -> str:
        return self.backend.precision

    @property
    def reading(self) -> Reading:
        """How this model reads a text: truncated, head and tail, or in pooled windows."""
        return self.backend.reading

    def reading_summary(self, texts: Sequence[str]) -> dict[str, Any]:
        """How `texts` are read: the reading, and how many are longer than one window and how
        many windows they take (test_metrics.json and the report say it)."""
        windows = self.backend.reader.read(texts)
        content = self.backend.reader.content
        return {
            **self.reading.to_config(),
            "texts": len(windows.tokens),
            "longer_than_max_length": int((windows.tokens > content).sum()),
            "windows": len(windows.ids),
        }

    def infer(
        self,
        texts: Sequence[str],
        return_embeddings: bool = False,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> Inference:
        """Probabilities (and [CLS] embeddings) for `texts`, in input order. `batch_size`
        defaults to the backend's own (docs/performance.md)."""
        batch_size = batch_size or self.backend.batch_size
        require_positive(batch_size, "batch_size")
        logits, embeddings = self.backend.infer(texts, batch_size, return_embeddings, progress)
        probabilities = sigmoid(logits) if self.multi_label else softmax(logits)
        return Inference(probabilities, embeddings, logits, self.thresholds)

    def predict(
        self,
        texts: str | Iterable[str],
        batch_size: int | None = None,
        min_confidence: float | None = None,
    ) -> list[Prediction]:
        """Label name, its probability, and every class's probability, for each text (and the
        tags at or above their thresholds, for a multi-label model). Below `min_confidence`
        (0 to 1) an answer abstains: `label` None, `abstained` True (docs/trust.md).

        A blank text raises InputError naming its position (see `newsclf.texts`)."""
        check_min_confidence(min_confidence)
        texts = check_texts([texts] if isinstance(texts, str) else list(texts))
        probs = self.infer(texts, batch_size=batch_size).probabilities
        return [self.prediction(row, min_confidence) for row in probs]

    def explain(
        self,
        texts: str | Iterable[str],
        label: str | None = None,
        method: str = "auto",
        steps: int | None = None,
    ) -> list[Explanation]:
        """A score per word for `label` (default: the predicted class) for each text, in text
        order: integrated gradients on PyTorch, occlusion on an ONNX export
        (`newsclf.inference.explain`, docs/explain.md)."""
        from newsclf.inference.explain import DEFAULT_STEPS, explain

        texts = [texts] if isinstance(texts, str) else list(texts)
        return explain(self, texts, label, method, steps or DEFAULT_STEPS)

    def prediction(
        self, probabilities: np.ndarray, min_confidence: float | None = None
    ) -> Prediction:
        """One row of probabilities as this model's Prediction."""
        return Prediction.from_probabilities(
            probabilities, self.label_names, self.thresholds, min_confidence
        )
