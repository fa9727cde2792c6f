"""Inference: one length-sorted batched loop, and the Classifier users call from Python."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.batching import PAD_MULTIPLE, round_up
from newsclf.config import require_positive
from newsclf.errors import DataError, InputError, ModelError
from newsclf.model import find_model_dir
from newsclf.onnx_backend import DEFAULT_BATCH_SIZE as ONNX_BATCH_SIZE
from newsclf.onnx_backend import OnnxBackend, is_onnx_dir
from newsclf.precision import autocast_dtype, cast_for_inference

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass
class Prediction:
    label: str
    score: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "probabilities": self.probabilities}


@dataclass
class Inference:
    """Row-aligned outputs for a list of texts."""

    probabilities: np.ndarray  # [N, C]
    embeddings: np.ndarray | None = None  # [N, H]: final hidden state of the first token ([CLS])
    logits: np.ndarray | None = None  # [N, C], before the softmax

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


def default_batch_size(device: torch.device) -> int:
    """Inference batch size: on a CPU, small length-sorted batches stay in cache (batch 32 ran
    ~20% faster than 128 on a 2-core EPYC); a GPU wants large ones."""
    return 256 if device.type == "cuda" else 32


def infer_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 128,
    max_length: int = 512,
    dtype: torch.dtype | None = None,
    return_embeddings: bool = False,
    progress: bool = False,
    pad_to_multiple_of: int = PAD_MULTIPLE,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and [CLS] embeddings) for `texts`, in input order.

    Texts are tokenized once, then batched shortest-first so each batch pads to its own longest
    text rather than to the longest in the dataset: on AG News that halves the work. The token
    ids go to the device in one copy and every batch is cut there, so a GPU never waits on the
    host between batches.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    if not len(texts):  # the tokenizer refuses an empty batch
        return np.zeros((0, model.num_labels)), None
    columns, lengths = _encode(tokenizer, texts, max_length, device)
    order = np.argsort(lengths, kind="stable")
    index = torch.as_tensor(order).to(device)
    logits, embeddings = [], []
    was_training = model.training
    model.eval()
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="Predicting", disable=not progress, leave=False):
            rows = index[start : start + batch_size]
            longest = int(lengths[order[min(start + batch_size, len(order)) - 1]])  # sorted
            width = round_up(longest, pad_to_multiple_of)
            batch = {name: col[rows, :width] for name, col in columns.items()}
            with torch.autocast(
                device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                out = model(**batch, output_hidden_states=return_embeddings)
            # Kept on the device until the end: a .cpu() per batch would wait for the GPU.
            logits.append(out.logits.float())
            if return_embeddings:
                embeddings.append(out.hidden_states[-1][:, 0].float())
    model.train(was_training)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    all_logits = torch.cat(logits).cpu().numpy()[inverse]
    all_emb = torch.cat(embeddings).cpu().numpy()[inverse] if return_embeddings else None
    return all_logits, all_emb


def _encode(
    tokenizer: Any, texts: Sequence[str], max_length: int, device: torch.device
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Token columns padded to the longest text, on `device`, and each text's token count.

    The fast tokenizer pads in Rust, in parallel: one call and one host-to-device copy per
    column instead of a Python loop over rows.
    """

    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding="longest", return_tensors="pt"
    )
    lengths = enc["attention_mask"].sum(dim=1).numpy()
    pin = device.type == "cuda"
    columns = {
        name: (col.pin_memory() if pin else col).to(device, non_blocking=True)
        for name, col in enc.items()
    }
    return columns, lengths


def softmax(logits: np.ndarray) -> np.ndarray:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def check_texts(texts: Sequence[Any], where: str = "text") -> list[str]:
    """The one rule for texts to classify: each is a string with a non-space character.

    A blank or non-string text raises InputError naming its position (counted from 1), in the
    CLI, the Python API and (as HTTP 422) the server alike. Training and evaluation data are
    different: there blank rows are skipped and counted in data.json.
    """
    for i, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise InputError(
                f"{where} {i} of {len(texts)} is {type(text).__name__} {text!r}: expected a "
                "string. Pass texts as strings."
            )
        if not text.strip():
            raise InputError(
                f"{where} {i} of {len(texts)} is blank ({text!r}): expected at least one "
                "non-space character. Remove it or fill it in."
            )
    return list(texts)


def show_progress(quiet: bool) -> bool:
    """Progress bars only for a person watching: not with --quiet, not when stderr is a log."""
    return not quiet and sys.stderr.isatty()


class Classifier:
    """A saved newsclf (or any sequence-classification) model, ready to predict.

    >>> clf = Classifier.from_pretrained("runs/demo/best_model")
    >>> clf.predict(["Federer wins his fifth Wimbledon title"])[0].label
    'Sports'
    """

    backend: OnnxBackend | None = None  # set for an ONNX export; None runs `model` in PyTorch

    def __init__(self, model: Any, tokenizer: Any, precision: str = "fp32") -> None:
        self.device = next(model.parameters()).device
        self.dtype = autocast_dtype(precision, self.device)
        self.model = cast_for_inference(model, self.dtype).eval()
        self.tokenizer = tokenizer
        self.label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path, device: str | None = None, precision: str = "fp32"
    ) -> Classifier:
        """Load a model directory (a run's `best_model/`, or a run directory holding one).

        A directory written by `newsclf export` (it holds model.onnx) runs on ONNX Runtime on
        the CPU, without torch; `precision` then has no effect (the weights are as exported)."""
        path = find_model_dir(model_dir)
        if is_onnx_dir(path):
            return cls.from_onnx(path, device)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # dtype is explicit: transformers 5 otherwise keeps a checkpoint's stored dtype.
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
        return cls(model.to(device), AutoTokenizer.from_pretrained(path), precision)

    @classmethod
    def from_onnx(
        cls, model_dir: str | Path, device: str | None = None, threads: int | None = None
    ) -> Classifier:
        """An export (`newsclf export`) on ONNX Runtime: same outputs as the PyTorch model.
        `threads`: ONNX Runtime's intra-op threads (default 2, onnx_backend.DEFAULT_THREADS)."""
        if device not in (None, "cpu"):
            raise ModelError(
                f"device={device!r}: an ONNX export runs on the CPU here. Pass device='cpu' "
                "(or none), or load the PyTorch model it was exported from."
            )
        backend = OnnxBackend(find_model_dir(model_dir), threads)
        self = cls.__new__(cls)  # __init__ wraps a PyTorch model; an export has none
        self.backend, self.model, self.device, self.dtype = backend, None, None, None
        self.tokenizer = backend.tokenizer
        self.label_names, self.max_length = backend.label_names, backend.max_length
        return self

    def infer(
        self,
        texts: Sequence[str],
        return_embeddings: bool = False,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> Inference:
        """Probabilities (and [CLS] embeddings) for `texts`, in input order."""
        if self.backend is not None:
            batch_size = batch_size or ONNX_BATCH_SIZE
            require_positive(batch_size, "batch_size")
            logits, embeddings = self.backend.infer(texts, batch_size, return_embeddings, progress)
            return Inference(softmax(logits), embeddings, logits)
        batch_size = batch_size or default_batch_size(self.device)
        require_positive(batch_size, "batch_size")
        logits, embeddings = infer_texts(
            self.model,
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=self.max_length,
            dtype=self.dtype,
            return_embeddings=return_embeddings,
            progress=progress,
        )
        return Inference(softmax(logits), embeddings, logits)

    def predict(
        self, texts: str | Iterable[str], batch_size: int | None = None
    ) -> list[Prediction]:
        """Label name, its probability, and every class's probability, for each text.

        A blank text raises InputError naming its position (see `check_texts`)."""
        texts = check_texts([texts] if isinstance(texts, str) else list(texts))
        probs = self.infer(texts, batch_size=batch_size).probabilities
        return [self._prediction(row) for row in probs]

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        probabilities = {name: float(p) for name, p in zip(self.label_names, row, strict=True)}
        return Prediction(self.label_names[best], float(row[best]), probabilities)


def read_texts(path: str | Path, column: str = "text") -> list[str]:
    """Texts from a file: a column of a CSV/TSV/JSON/JSONL/Parquet table, else one per line.

    Blank lines of a text file separate texts and are skipped; a blank table cell is refused
    with its row number, like any other blank text."""
    from newsclf.paths import check_readable_file
    from newsclf.sources import SUFFIXES, read_table, stem_and_format

    path = Path(path)
    check_readable_file(path, "--file")
    if stem_and_format(path)[1] not in SUFFIXES.values():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path}: not valid UTF-8 at byte {err.start}. Re-save it as UTF-8."
            ) from None
        return [line.strip() for line in lines if line.strip()]
    df = read_table(path, "utf-8", None, (column,))
    if column not in df.columns:
        raise DataError(
            f"{path} has no column {column!r}: found {[str(c) for c in df.columns]}. Use --column."
        )
    import pandas as pd

    cells = ["" if pd.isna(v) else str(v).strip() for v in df[column]]
    return check_texts(cells, f"{path}, column {column!r}, row")
