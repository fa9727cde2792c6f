"""history.json: one row per epoch (what it did, how the model scored after it), the best epoch
by validation accuracy, and how many processes trained."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EpochRow:
    """One line of history.json: what an epoch did and how the model scored after it."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_f1: float
    learning_rate: float
    steps: int  # optimizer steps taken in this epoch (per process)
    train_seconds: float  # the optimizer steps alone
    seconds: float  # the whole epoch: validation and checkpoints too


@dataclass
class History:
    """history.json: the epochs so far, the best one by validation accuracy (0: none yet),
    and how many processes trained (more than 1 for a data-parallel run)."""

    epochs: list[EpochRow] = field(default_factory=list)
    best_epoch: int = 0
    num_processes: int = 1

    @property
    def best(self) -> EpochRow:
        return next(row for row in self.epochs if row.epoch == self.best_epoch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "num_processes": self.num_processes,
            "epochs": [asdict(row) for row in self.epochs],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        rows = [EpochRow(**row) for row in values.get("epochs", [])]
        return cls(rows, values.get("best_epoch", 0), values.get("num_processes", 1))
