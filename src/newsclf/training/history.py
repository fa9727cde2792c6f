"""history.json: one row per evaluation (what the optimizer steps since the last one did, how
the model scored after them), the best by the validation metric, and how many processes trained.
A row's `epoch` is the epochs done when it was validated: a whole number at an epoch's end,
a fraction (1.5) at an --eval-every point inside an epoch; `best_epoch` is the best row's.

A single-label run with the default metric writes exactly the keys below. A multi-label run
adds `task` and `metric` at the top and `val_metrics` to each row (micro-, macro-,
samples-F1, subset accuracy, Hamming loss and the threshold(s) tuned on validation); there
`val_accuracy` is the subset accuracy and `val_f1` the macro-F1. A model soup (`--soup N`)
holds every member's epochs, each row with its `member` (1 to N), and `soup`: the averaged
model's validation scores, its members' seeds and best epochs; its `best_epoch` is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from newsclf.task import METRICS, SINGLE_LABEL


@dataclass
class EpochRow:
    """One line of history.json: what the steps since the last evaluation did and how the model
    scored after them."""

    epoch: int | float  # epochs done: 2 at the second epoch's end, 1.5 halfway through it
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_f1: float
    learning_rate: float
    steps: int  # optimizer steps since the last evaluation (per process)
    train_seconds: float  # the optimizer steps alone
    seconds: float  # the whole epoch: validation and checkpoints too
    val_metrics: dict[str, Any] | None = None  # multi-label: every metric, and the threshold(s)
    member: int | None = None  # a soup's member that trained this epoch

    def score(self, metric: str) -> float:
        """This epoch's validation `metric` (accuracy, macro_f1, micro_f1, ...)."""
        if self.val_metrics is not None:
            return self.val_metrics[metric]
        return {"accuracy": self.val_accuracy, "macro_f1": self.val_f1}[metric]

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("val_metrics", "member"):
            if row[key] is None:
                del row[key]
        return row


@dataclass
class History:
    """history.json: the epochs so far, the best one by the validation metric (0: none yet),
    and how many processes trained (more than 1 for a data-parallel run)."""

    epochs: list[EpochRow] = field(default_factory=list)
    best_epoch: int | float = 0
    num_processes: int = 1
    task: str = SINGLE_LABEL
    metric: str = METRICS[SINGLE_LABEL][0]
    soup: dict[str, Any] | None = None  # a model soup: the averaged model's validation
    # Not saved: the last evaluation ended training (its last epoch, or early stopping).
    finished: bool = field(default=False, compare=False)

    @property
    def best(self) -> EpochRow:
        """The saved model's validation: the best epoch's row, or a soup's own scores."""
        if self.soup is not None:
            scores = ("val_loss", "val_accuracy", "val_f1", "val_metrics")
            steps = ("learning_rate", "steps", "train_seconds", "seconds")
            return EpochRow(
                epoch=0, train_loss=0.0, **dict.fromkeys(steps, 0),
                **{k: self.soup.get(k) for k in scores},
            )  # fmt: skip
        return next(row for row in self.epochs if row.epoch == self.best_epoch)

    @property
    def saved(self) -> str:
        """What best_model/ is, in words: 'best epoch 2', or 'the soup of 4 members'."""
        if self.soup is not None:
            return f"the soup of {len(self.soup['seeds'])} members"
        return f"best epoch {round(self.best_epoch, 2):g}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if (self.task, self.metric) != (SINGLE_LABEL, METRICS[SINGLE_LABEL][0]):
            out = {"task": self.task, "metric": self.metric}
        return {
            **out,
            "best_epoch": self.best_epoch,
            "num_processes": self.num_processes,
            "epochs": [row.to_dict() for row in self.epochs],
            **({"soup": self.soup} if self.soup is not None else {}),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        rows = [EpochRow(**row) for row in values.get("epochs", [])]
        task = values.get("task", SINGLE_LABEL)
        metric = values.get("metric", METRICS[SINGLE_LABEL][0])
        return cls(
            rows, values.get("best_epoch", 0), values.get("num_processes", 1), task, metric,
            values.get("soup"),
        )  # fmt: skip
