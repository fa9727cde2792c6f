"""What stops training, with a message that says why and what to change: a loss that is no
longer finite, no better validation score for `patience` evaluations, a GPU out of memory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from newsclf.errors import TrainingError
from newsclf.task import METRIC_NAMES
from newsclf.training.console import say
from newsclf.training.staging import checkpoints

if TYPE_CHECKING:
    import torch

    from newsclf.config import TrainConfig
    from newsclf.training.history import History

# How often (in batches) the summed loss is read back to catch a NaN: each read waits for the GPU.
LOSS_CHECK_EVERY = 25


class LossWatch:
    """The batch losses since the last check, kept on the device: `check` reads them back in
    one transfer and stops at the first NaN or infinite one, naming its step."""

    def __init__(self, cfg: TrainConfig, run_dir: Path) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        self.recent: list[tuple[torch.Tensor, int, float]] = []  # (loss, step, learning rate)

    def add(self, loss: torch.Tensor, step: int, learning_rate: float) -> None:
        self.recent.append((loss, step, learning_rate))

    def check(self, epoch: int) -> None:
        import torch

        if not self.recent:
            return
        finite = torch.isfinite(torch.stack([loss for loss, _, _ in self.recent])).tolist()
        if all(finite):
            self.recent.clear()
            return
        loss, step, learning_rate = self.recent[finite.index(False)]
        raise TrainingError(
            f"The training loss became {loss.item()} at optimizer step {step} (epoch {epoch}) "
            f"with learning rate {learning_rate:.3g}: training diverged and was stopped. "
            f"{self._kept()} Lower --learning-rate (now {self.cfg.learning_rate:g}, e.g. to "
            f"{self.cfg.learning_rate / 10:g}), or keep --max-grad-norm on (now "
            f"{self.cfg.max_grad_norm:g}), and train again."
        )

    def _kept(self) -> str:
        saved = checkpoints(self.run_dir)
        return (
            f"The last good checkpoint is {saved[-1]}."
            if saved
            else "No checkpoint was written before it."
        )


def early_stop(cfg: TrainConfig, history: History) -> bool:
    """True when the last `patience` evaluations brought no better validation score; says so."""
    rows = [row.epoch for row in history.epochs]
    stale = len(rows) - 1 - rows.index(history.best_epoch) if history.best_epoch in rows else 0
    if cfg.patience is None or stale < cfg.patience:
        return False
    say(
        f"Early stopping: no better validation {METRIC_NAMES[history.metric]} for {stale} "
        f"evaluation(s) (--patience {cfg.patience}); the best is epoch {history.best_epoch}."
    )
    return True


def out_of_memory(cfg: TrainConfig) -> str:
    half = max(cfg.batch_size // 2, 1)
    return (
        f"The GPU ran out of memory at batch size {cfg.batch_size} (max length "
        f"{cfg.max_length}, precision {cfg.precision}). Try --batch-size {half} "
        f"--grad-accum {cfg.grad_accum * 2} (the same effective batch), a shorter --max-length, "
        "or --precision bf16; a smaller --eval-batch-size if it failed in validation."
    )
