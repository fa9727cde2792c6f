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
from newsclf.reading import Reading, TextReader, pool
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
        self.tokenizer, self.pad_id = _load_tokenizer(path)  # it reads whole texts: no cut
        reading = Reading.from_config(model_config(path), _model_max_length(path))
        self.reader = TextReader.from_tokenizers(self.tokenizer, reading)
        self.reading = reading
        self.max_length = reading.max_length
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
        windows = self.reader.read(texts)
        lengths = windows.lengths
        order = np.argsort(lengths, kind="stable")
        wanted = [LOGITS, EMBEDDING] if return_embeddings else [LOGITS]
        logits, embeddings = [], []
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="Predicting", disable=not progress, leave=False):
            rows = [windows.ids[i] for i in order[start : start + batch_size]]
            outputs = self.session.run(wanted, self._feed(rows))
            logits.append(outputs[0])
            if return_embeddings:
                embeddings.append(outputs[1])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        # One answer per text: its windows' logits pooled as the PyTorch backend pools them.
        all_logits = pool(
            np.concatenate(logits)[inverse].astype(np.float32), windows.doc, self.reading.pool
        )
        if not return_embeddings:
            return all_logits, None
        return all_logits, pool(np.concatenate(embeddings)[inverse], windows.doc, "mean")

    def _feed(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """One batch of windows as right-padded int64 arrays, named as the graph's inputs."""
        import numpy as np

        width = max(len(ids) for ids in rows)
        columns = {
            "input_ids": np.full((len(rows), width), self.pad_id, np.int64),
            "attention_mask": np.zeros((len(rows), width), np.int64),
            "token_type_ids": np.zeros((len(rows), width), np.int64),
        }
        for i, ids in enumerate(rows):
            columns["input_ids"][i, : len(ids)] = ids
            columns["attention_mask"][i, : len(ids)] = 1
        return {name: columns[name] for name in self.input_names}

    def _empty_embeddings(self) -> np.ndarray:
        import numpy as np

        width = self.session.get_outputs()[self.output_names.index(EMBEDDING)].shape[-1]
        return np.zeros((0, width if isinstance(width, int) else 0), np.float32)


def _load_tokenizer(path: Path) -> tuple[Any, int]:
    """The fast tokenizer from tokenizer.json and its pad id; how much of a text it reads is
    the model's reading (`newsclf.reading`), as on the PyTorch path."""
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
    padding = tokenizer.padding
    return tokenizer, int(padding["pad_id"]) if padding else 0


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
