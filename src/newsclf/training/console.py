"""What training prints: the run's description, one line per epoch. Only the main process
prints, so under `accelerate launch` the output reads as one run's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsclf.distributed import is_main_process
from newsclf.task import METRIC_NAMES, resolve_metric
from newsclf.training.model import count_parameters

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.training.history import EpochRow


def say(text: str) -> None:
    """Print on the main process only: under `accelerate launch` the others stay silent."""
    if is_main_process():
        print(text, flush=True)


def describe(cfg: TrainConfig, data: LoadedData, model: PreTrainedModel) -> str:
    """The data, the model and the recipe, printed before the first epoch."""
    from accelerate import PartialState

    sizes = ", ".join(f"{s} {len(ds):,}" for s, ds in data.splits.items())
    notes = "".join(f"Note: {note}\n" for note in data.notes)
    processes = PartialState().num_processes
    batch = f"batch {cfg.batch_size}"
    if processes > 1 or cfg.grad_accum > 1:
        effective = cfg.batch_size * cfg.grad_accum * processes
        batch += f" x {cfg.grad_accum} accumulated x {processes} processes = {effective}"
    weights = ", balanced class weights" if cfg.class_weights else ""
    metric = resolve_metric(cfg.metric, data.task)
    if data.multi_label or metric != "accuracy":
        weights += f", best epoch by validation {METRIC_NAMES[metric]}"
    classes = ", ".join(data.label_names[:12]) + (", ..." if len(data.label_names) > 12 else "")
    kind = f"{len(data.label_names)} tags" if data.multi_label else "classes"
    return (
        f"{notes}Data: {data.source} ({sizes}); {kind}: {classes}\n"
        f"Model: {_model_name(cfg)} ({count_parameters(model) / 1e6:.1f}M parameters); "
        f"{cfg.epochs} epoch(s), {batch}, lr {cfg.learning_rate}, precision {cfg.precision}"
        f"{weights}" + (f"; a soup of {cfg.soup} members" if cfg.soup > 1 else "")
    )


def _model_name(cfg: TrainConfig) -> str:
    if cfg.distill_from is None:
        return cfg.model
    return (
        f"a {cfg.student_layers}-layer student of {cfg.distill_from}, learning its logits "
        f"(alpha {cfg.distill_alpha:g}, temperature {cfg.distill_temperature:g})"
    )


def epoch_line(row: EpochRow, improved: bool) -> str:
    scores = f"val acc {row.val_accuracy:.2%}  val F1 {row.val_f1:.4f}"
    if row.val_metrics is not None:  # multi-label
        m = row.val_metrics
        threshold = f"{m['threshold']:.2f}" if "threshold" in m else "per class"
        scores = (
            f"val micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
            f"subset acc {m['subset_accuracy']:.2%}  threshold {threshold}"
        )
    return (
        f"epoch {round(row.epoch, 2):g}: train loss {row.train_loss:.4f}  val loss {row.val_loss:.4f}  "
        f"{scores}  {row.seconds:.0f}s" + ("  (best so far, saved)" if improved else "")
    )
