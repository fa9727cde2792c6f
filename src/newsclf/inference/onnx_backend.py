"""Inference on ONNX Runtime for a directory written by `newsclf export`.

Torch-free on purpose: the tokenizer is read with `tokenizers` from tokenizer.json and the model
runs in `onnxruntime`, so an exported model predicts without torch or transformers installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import ModelError
from newsclf.model_dir import EXPORT_INFO, ONNX_FILE, model_config, model_label_names
from newsclf.task import ModelTask

if TYPE_CHECKING:
    import numpy as np

TOKENIZER_FILE = "tokenizer.json"
LOGITS = "logits"
EMBEDDING = "cls_embedding"  # final hidden state of the first token, [batch, hidden]
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Chosen from the thread sweep in docs/performance.md (2-core EPYC, shared).
DEFAULT_THREADS = 2
DEFAULT_BATCH_SIZE = 32


class OnnxBackend:
    """An exported model on ONNX Runtime: logits (and [CLS] embeddings) for a list of texts."""

    device = "cpu"
    batch_size = DEFAULT_BATCH_SIZE
    # A server's dynamic batch runs at the bulk size: sub-batching was measured for PyTorch only.
    online_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        self.path = path
        self.label_names = model_label_names(path)
        self.task = ModelTask.from_config(model_config(path), self.label_names)
        self.tokenizer, self.max_length, self.pad_id = _load_tokenizer(path)
        self.session = _load_session(path / ONNX_FILE, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.precision = _weights(path)
        self._check_io()

    def _check_io(self) -> None:
        """Refuse a graph whose inputs or class count do not match this directory's files."""
        where = self.path / ONNX_FILE
        unknown = [n for n in self.input_names if n not in INPUT_NAMES]
        if unknown or "input_ids" not in self.input_names or LOGITS not in self.output_names:
            raise ModelError(
                f"{where} has inputs {self.input_names} and outputs {self.output_names}: expected "
                f"inputs among {list(INPUT_NAMES)} and an output {LOGITS!r}. "
                "Re-export it with `newsclf export`."
            )
        width = self.session.get_outputs()[self.output_names.index(LOGITS)].shape[-1]
        if isinstance(width, int) and width != len(self.label_names):
            raise ModelError(
                f"{where} outputs {width} classes but {self.path / 'config.json'} names "
                f"{len(self.label_names)} ({self.label_names}). Re-export the model so both "
                "come from the same checkpoint."
            )

    def infer(
        self,
        texts: Sequence[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
        return_embeddings: bool = False,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits (and [CLS] embeddings) in input order, batched shortest-first like the
        PyTorch path, so each batch pads only to its own longest text."""
        import numpy as np
        from tqdm.auto import tqdm

        if return_embeddings and EMBEDDING not in self.output_names:
            raise ModelError(
                f"{self.path / ONNX_FILE} has no {EMBEDDING!r} output, so it cannot give "
                "embeddings. Re-export it with `newsclf export`, or use the PyTorch model."
            )
        if not len(texts):
            empty = np.zeros((0, len(self.label_names)), np.float32)
            return empty, (self._empty_embeddings() if return_embeddings else None)
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        wanted = [LOGITS, EMBEDDING] if return_embeddings else [LOGITS]
        logits, embeddings = [], []
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="Predicting", disable=not progress, leave=False):
            rows = [encodings[i] for i in order[start : start + batch_size]]
            outputs = self.session.run(wanted, self._feed(rows))
            logits.append(outputs[0])
            if return_embeddings:
                embeddings.append(outputs[1])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        all_emb = np.concatenate(embeddings)[inverse] if return_embeddings else None
        return np.concatenate(logits)[inverse].astype(np.float32), all_emb

    def _feed(self, rows: list[Any]) -> dict[str, np.ndarray]:
        """One batch as right-padded int64 arrays, named as the graph's inputs."""
        import numpy as np

        width = max(len(e.ids) for e in rows)
        columns = {
            "input_ids": np.zeros((len(rows), width), np.int64),
            "attention_mask": np.zeros((len(rows), width), np.int64),
            "token_type_ids": np.zeros((len(rows), width), np.int64),
        }
        for i, enc in enumerate(rows):
            n = len(enc.ids)
            columns["input_ids"][i, :n] = enc.ids
            columns["attention_mask"][i, :n] = 1
            columns["token_type_ids"][i, :n] = enc.type_ids
        if self.pad_id:  # masked positions: the value does not change the outputs
            columns["input_ids"][columns["attention_mask"] == 0] = self.pad_id
        return {name: columns[name] for name in self.input_names}

    def _empty_embeddings(self) -> np.ndarray:
        import numpy as np

        width = self.session.get_outputs()[self.output_names.index(EMBEDDING)].shape[-1]
        return np.zeros((0, width if isinstance(width, int) else 0), np.float32)


def _load_tokenizer(path: Path) -> tuple[Any, int, int]:
    """The fast tokenizer from tokenizer.json, truncating like the PyTorch path (to the
    tokenizer's model_max_length, at most 512), its max length and its pad id."""
    from tokenizers import Tokenizer

    file = path / TOKENIZER_FILE
    if not file.is_file():
        raise ModelError(
            f"{path} has no {TOKENIZER_FILE}: an exported model needs its fast tokenizer beside "
            f"model.onnx (found: {sorted(p.name for p in path.iterdir())[:12]}). Re-export it "
            "with `newsclf export`."
        )
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as err:
        raise ModelError(
            f"{file} cannot be read as a tokenizer ({err}). Re-export the model."
        ) from None
    max_length = min(_model_max_length(path), 512)
    padding = tokenizer.padding
    tokenizer.no_padding()  # batches are padded in _feed, each to its own longest text
    tokenizer.enable_truncation(max_length)
    return tokenizer, max_length, int(padding["pad_id"]) if padding else 0


def _weights(path: Path) -> str:
    """'int8' for an export with quantized weights (export.json says so), else 'fp32'."""
    try:
        weights = json.loads((path / EXPORT_INFO).read_text(encoding="utf-8")).get("weights", "")
    except (OSError, ValueError, AttributeError):
        return "fp32"
    return "int8" if str(weights).startswith("int8") else "fp32"


def _model_max_length(path: Path) -> int:
    config = path / "tokenizer_config.json"
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        return 512
    return int(value) if isinstance(value, int | float) and value > 0 else 512


def _load_session(file: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or DEFAULT_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT warns about unused initializers
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types for a corrupt file
        raise ModelError(
            f"{file} cannot be loaded by ONNX Runtime ({' '.join(str(err).split())[:200]}). "
            "Re-export the model with `newsclf export`."
        ) from None
