"""Resumable checkpoints: everything needed to continue a run exactly where it stopped.

Each checkpoint is Accelerate's `save_state` (model, optimizer, schedule, RNG states, scaler)
plus the loop's position and the history so far, written under a temporary name and renamed
`checkpoint-<step>/` once complete. On CPU, a resumed run gives the same history.json as an
uninterrupted one with the same seed (apart from the `seconds` fields).
"""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import rundir
from newsclf.training.console import say
from newsclf.training.history import History
from newsclf.training.staging import checkpoint_dir, checkpoints

if TYPE_CHECKING:
    import torch

    from newsclf.training.engine import Engine


@dataclass
class Position:
    """Where training is, saved with each checkpoint: enough to continue exactly."""

    epoch: int = 1  # the epoch in progress
    batches: int = 0  # its batches already trained on (per process)
    epoch_steps: int = 0  # its optimizer steps so far
    global_step: int = 0  # optimizer steps since the start
    # Since the last evaluation (history.json's next row): batch losses summed, batches and
    # optimizer steps (per process), seconds of training.
    loss_sum: float = 0.0
    period_batches: int = 0
    period_steps: int = 0
    period_seconds: float = 0.0
    # The sampler's generator state at the epoch's start: it fixes the epoch's batch order.
    sampler_state: str = ""
    best_score: float = -1.0  # the best validation metric so far, unrounded, as compared
    finished: bool = False  # early stopping ended training
    # The training loss since the last tracker log (--report-to): a resumed run logs the same.
    log_loss_sum: float = 0.0
    log_batches: int = 0

    def start_period(self) -> None:
        """An evaluation was just written: the next row counts from here."""
        self.loss_sum, self.period_batches, self.period_steps, self.period_seconds = 0.0, 0, 0, 0.0

    def next_epoch(self, sampler_rng: torch.Generator, finished: bool) -> Position:
        """The position at the start of the next epoch, whose batch order `sampler_rng` fixes."""
        return Position(
            epoch=self.epoch + 1,
            global_step=self.global_step,
            sampler_state=encode_rng(sampler_rng.get_state()),
            best_score=self.best_score,
            finished=finished,
            log_loss_sum=float(self.log_loss_sum),
            log_batches=self.log_batches,
        )


def save_checkpoint(engine: Engine, pos: Position, history: History) -> None:
    """`save_state` (model, optimizer, schedule, RNG states, scaler) plus the position and the
    history, into a temporary directory renamed `checkpoint-<step>/` once complete; then only
    the latest `keep_checkpoints` are kept."""
    accelerator = engine.accelerator
    target = checkpoint_dir(engine.run_dir, pos.global_step)
    tmp = rundir.temporary(target)
    if engine.main:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if engine.main:
        state = {"position": asdict(pos), "history": history.to_dict()}
        state["trackers"] = engine.tracking.ids()
        rundir.write_json(tmp / rundir.TRAINER_STATE_JSON, state)
        rundir.replace_dir(tmp, target)
        for old in checkpoints(engine.run_dir, members=False)[: -engine.cfg.keep_checkpoints]:
            shutil.rmtree(old)
        engine.tracking.flush()  # what is logged now is never logged again after a resume
    accelerator.wait_for_everyone()


def load_checkpoint(engine: Engine, checkpoint: Path) -> tuple[History, Position]:
    state = json.loads((checkpoint / rundir.TRAINER_STATE_JSON).read_text(encoding="utf-8"))
    engine.accelerator.load_state(str(checkpoint))  # weights, optimizer, schedule, RNG states
    position = state["position"]
    if "best_accuracy" in position:  # checkpoints written before the metric could be chosen
        position["best_score"] = position.pop("best_accuracy")
    pos = Position(**position)
    engine.sampler_rng.set_state(decode_rng(pos.sampler_state))
    if engine.main:
        rundir.recover_dir(engine.run_dir / rundir.BEST_MODEL)
    say(f"Resuming from {checkpoint.name}: epoch {pos.epoch}, {pos.batches} batch(es) in.")
    return History.from_dict(state["history"]), pos


def tracked_runs(checkpoint: Path) -> dict[str, str]:
    """The tracked runs (MLflow, W&B ids) a checkpoint's run was logging to."""
    state = json.loads((checkpoint / rundir.TRAINER_STATE_JSON).read_text(encoding="utf-8"))
    return state.get("trackers", {})


def encode_rng(state: torch.Tensor) -> str:
    return base64.b64encode(bytes(state.tolist())).decode("ascii")


def decode_rng(text: str) -> torch.Tensor:
    import torch

    return torch.tensor(list(base64.b64decode(text)), dtype=torch.uint8)
