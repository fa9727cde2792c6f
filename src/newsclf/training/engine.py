"""Everything a fit prepares before its first step: the Accelerator, the loaders, the optimizer
and its schedule, the precision, all in one `Engine` that the loop, validation and checkpoints
share. Nothing here runs a step."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.config import AUTO, EVAL_AT_EPOCH_END
from newsclf.data.tokenize import tokenize
from newsclf.distributed import cpu_processes
from newsclf.errors import ConfigError
from newsclf.precision import TrainingPrecision, enable_tf32
from newsclf.reading import CHUNKS, Reading
from newsclf.task import resolve_metric
from newsclf.training.averaging import WeightAverage, weight_average
from newsclf.training.loaders import eval_loader, rows_device, train_loader
from newsclf.training.objectives import Distillation, Objective, make_objective
from newsclf.training.optim import (
    adamw,
    balanced_class_weights,
    compile_model,
    linear_schedule,
    positive_weights,
    steps_per_epoch,
)
from newsclf.training.tracking import Tracking

if TYPE_CHECKING:
    import datasets
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData


@dataclass
class Engine:
    """The prepared objects of one fit."""

    cfg: TrainConfig
    accelerator: Accelerator
    model: torch.nn.Module  # possibly compiled: the training steps use it
    eager_model: torch.nn.Module  # prepared, not compiled: validation and saving use it
    optimizer: torch.optim.Optimizer
    scheduler: Any  # transformers' linear schedule, wrapped by Accelerate
    loader: DataLoader
    val_loader: DataLoader
    sampler_rng: torch.Generator  # the train sampler's: it fixes each epoch's batch order
    precision: TrainingPrecision
    class_weights: torch.Tensor | None
    tokenizer: PreTrainedTokenizerBase
    label_names: list[str]
    run_dir: Path
    metric: str  # the validation metric that picks the best epoch
    multi_label: bool = False
    tracking: Tracking = field(default_factory=lambda: Tracking.off())
    objective: Objective | Distillation | None = None  # the options' loss; None: plain
    average: WeightAverage | None = None  # EMA or SWA weights, validated and saved
    # Optimizer steps into an epoch where validation runs before its end (--eval-every).
    eval_points: frozenset[int] = frozenset()
    steps_per_epoch: int = 1

    @property
    def reading(self) -> Reading:
        """How the model reads a text (newsclf.reading), as saved with it."""
        return Reading.of_config(self.cfg)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def learning_rate(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def epochs_done(self, epoch: int, epoch_steps: int) -> float:
        """Epochs done `epoch_steps` optimizer steps into epoch `epoch`: 1.5 halfway through
        the second."""
        return round(epoch - 1 + epoch_steps / self.steps_per_epoch, 4)


def eval_points(eval_every: float | str, steps_per_epoch: int) -> frozenset[int]:
    """The optimizer steps into an epoch at which validation runs before the epoch's end: every
    `eval_every` of an epoch, rounded to a step, none within half an interval of the end (the
    end is always validated). 'auto' (a config not resolved by a run): the end only."""
    share = EVAL_AT_EPOCH_END if eval_every == AUTO else float(eval_every)
    points, k = set(), 1
    while k * share < 1 - share / 2 - 1e-9:
        points.add(min(max(round(k * share * steps_per_epoch), 1), steps_per_epoch - 1))
        k += 1
    return frozenset(p for p in points if 0 < p < steps_per_epoch)


def setup(
    cfg: TrainConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_set: datasets.Dataset,
    data: LoadedData,
    run_dir: Path,
    tracking: Tracking | None = None,
) -> Engine:
    """Accelerator, loaders, optimizer and schedule, all prepared; the model compiled if asked;
    the trackers started."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    require_resolved(cfg)
    enable_tf32()
    tracking = tracking or Tracking.off()
    accelerator = Accelerator(
        log_with=tracking.make_trackers() or None,
        cpu=cpu_processes(),
        # newsclf applies the precision itself (TrainingPrecision): Accelerate's setting is
        # one per process, and a second run with another precision would be refused.
        mixed_precision="no",
        gradient_accumulation_steps=cfg.grad_accum,
        # Host-to-GPU copies from pinned memory overlap with compute instead of blocking.
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
    )
    device = rows_device(cfg.num_workers, accelerator.device)
    loader = train_loader(cfg, tokenizer, train_set, device)
    sampler_rng = loader.batch_sampler.sampler.generator
    # Validation is tokenized once; its batches are the same every epoch.
    val_set = tokenize(data.splits["validation"], tokenizer, Reading.of_config(cfg))
    val_loader = eval_loader(cfg, tokenizer, val_set, device)
    objective = make_objective(cfg, model)  # before wrapping: it may hook the model's head
    optimizer = adamw(model, cfg)
    scheduler = linear_schedule(optimizer, cfg, len(loader))
    model, optimizer, loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, loader, val_loader, scheduler
    )
    precision = TrainingPrecision.for_training(cfg.precision, accelerator.device)
    if precision.scaler is not None:  # saved and restored with the checkpoints
        accelerator.register_for_checkpointing(precision.scaler)
    average = weight_average(cfg, accelerator.unwrap_model(model))  # the prepared weights
    if average is not None:  # saved and restored with the checkpoints
        accelerator.register_for_checkpointing(average)
    # Validation runs eagerly: compiling the eval graphs too costs more than 500 rows save.
    compiled = compile_model(model) if cfg.compile else model
    weights = _class_weights(cfg, data, accelerator.device)
    metric = resolve_metric(cfg.metric, data.task)
    if tracking.enabled:
        tracking.start(accelerator)
    per_epoch = steps_per_epoch(len(loader), cfg.grad_accum)
    return Engine(
        cfg, accelerator, compiled, model, optimizer, scheduler, loader, val_loader,
        sampler_rng, precision, weights, tokenizer, data.label_names, Path(run_dir), metric,
        data.multi_label, tracking, objective, average, eval_points(cfg.eval_every, per_epoch),
        per_epoch,
    )  # fmt: skip


def require_resolved(cfg: TrainConfig) -> None:
    """A fit needs numbers: `train` resolves 'auto' from the data (training.recipe) first."""
    unresolved = [f for f in ("epochs", "max_length", "long_texts") if getattr(cfg, f) == AUTO]
    if cfg.long_texts == CHUNKS and cfg.stride == AUTO:
        unresolved.append("stride")
    if unresolved:
        raise ConfigError(
            f"{', '.join(f'{f}={AUTO!r}' for f in unresolved)}: fit() trains a config whose "
            "recipe is resolved. Call newsclf.train(cfg), which chooses them from the data, "
            "or set them (e.g. epochs=2, max_length=128, long_texts='truncate', stride=0)."
        )


def _class_weights(cfg: TrainConfig, data: LoadedData, device: torch.device) -> torch.Tensor | None:
    """--class-weights balanced: per class (single-label), or per tag's positives (multi-label)."""
    import torch

    if cfg.class_weights != "balanced":
        return None
    labels = data.label_matrix("train")
    if data.multi_label:
        weights = positive_weights(labels)
    else:
        weights = balanced_class_weights(labels.tolist(), len(data.label_names))
    return torch.tensor(weights, dtype=torch.float32, device=device)
