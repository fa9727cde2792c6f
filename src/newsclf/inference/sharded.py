"""Inference shared out over the processes of `accelerate launch`: each process scores its
shard of the texts, and every process gets back every row's probabilities, in input order.

`newsclf evaluate` and `newsclf predict --file --output` use it when launched as several
processes; a single process never comes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsclf.inference.classifier import Inference

if TYPE_CHECKING:
    from newsclf.inference.classifier import Classifier


class ShardedInference:
    """`classifier.infer` with the rows split over the launched processes.

    Each process takes one contiguous shard of ceil(rows / processes) rows, so the
    length-sorted batching inside `Classifier.infer` works on a whole shard as it does on all
    rows in one process. Accelerate evens out the last shard with repeated rows, and
    `gather_for_metrics` drops them again: every row comes back exactly once."""

    def __init__(self, classifier: Classifier, batch_size: int | None = None) -> None:
        from accelerate import Accelerator

        # mixed_precision "no": the classifier applies its own precision (precision.py).
        self.accelerator = Accelerator(
            cpu=classifier.device.startswith("cpu"), mixed_precision="no"
        )
        self.classifier, self.batch_size = classifier, batch_size
        self.label_names = classifier.label_names
        self.prediction = classifier.prediction

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process

    def infer(self, texts: Sequence[str], batch_size: int | None = None) -> Inference:
        """Probabilities for every row of `texts`, on every process, in input order."""
        import numpy as np
        import torch
        from torch.utils.data import DataLoader

        if not len(texts):
            empty = np.zeros((0, len(self.label_names)), dtype=np.float32)
            return Inference(empty, thresholds=self.classifier.thresholds)
        shard = -(-len(texts) // self.num_processes)
        loader = self.accelerator.prepare(DataLoader(range(len(texts)), batch_size=shard))
        probabilities, row_ids = [], []
        for rows in loader:
            ids = rows.tolist()
            shard_texts = [texts[i] for i in ids]
            out = self.classifier.infer(shard_texts, batch_size=batch_size or self.batch_size)
            probs = torch.as_tensor(out.probabilities, device=rows.device)
            probs, rows = self.accelerator.gather_for_metrics((probs, rows))
            probabilities.append(probs.cpu().numpy())
            row_ids.append(rows.cpu().numpy())
        ids = np.concatenate(row_ids)
        assert len(ids) == len(texts), (len(ids), len(texts))  # each row exactly once
        probs = np.concatenate(probabilities)[np.argsort(ids, kind="stable")]
        return Inference(probs, thresholds=self.classifier.thresholds)
