"""What a Classifier runs on: a backend turns texts into logits (and [CLS] embeddings).

Two backends implement it: `TorchBackend` (a saved PyTorch model, CPU or GPU, fp32 or bf16)
and `OnnxBackend` (a directory written by `newsclf export`, on ONNX Runtime, without torch).
Everything above a backend (the Classifier, the server, sharded scoring) asks it through this
protocol and never checks which one it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from newsclf.reading import Reading, TextReader
    from newsclf.task import ModelTask


class Backend(Protocol):
    task: ModelTask  # the class names in output order (id2label), multi-label and thresholds
    reading: Reading  # how a text is read (newsclf.reading), as saved with the model
    reader: TextReader  # the reading with the model's tokenizer: texts in, windows out
    max_length: int  # tokens per window (reading.max_length)
    device: str  # "cpu", "cuda:0"
    precision: str  # what the weights compute in: "fp32", "bf16", "int8"
    batch_size: int  # texts per pass when scoring many texts
    online_batch_size: int  # texts per pass inside a server's dynamic batch (docs/serving.md)

    def infer(
        self,
        texts: Sequence[str],
        batch_size: int,
        return_embeddings: bool = False,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits [N, C] (and [CLS] embeddings [N, H]) for `texts`, in input order: one row per
        text, however many windows the reading reads it in."""
        ...
