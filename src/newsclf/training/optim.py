"""What one optimizer step is made of: the loss, AdamW and its schedule, and torch.compile."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsclf.accuracy_options import LR_SCHEDULES
from newsclf.precision import TrainingPrecision
from newsclf.training.layer_lrs import layer_groups, uses_layer_lrs

if TYPE_CHECKING:
    import torch

    from newsclf.config import TrainConfig
    from newsclf.training.objectives import Distillation, Objective


def batch_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    class_weights: torch.Tensor | None = None,
    precision: TrainingPrecision | None = None,
    objective: Objective | Distillation | None = None,
) -> torch.Tensor:
    """The batch's mean loss: cross-entropy, or for multi-label (0/1 rows of labels) binary
    cross-entropy per class. With class weights, each row's cross-entropy weighted by its
    class; for multi-label, each class's positives weighted by `class_weights` (pos_weight).
    With an `objective` (label smoothing, R-Drop, multi-sample dropout; single-label only),
    that loss."""
    precision = precision or TrainingPrecision("cpu")
    if objective is not None:
        return objective(model, batch, class_weights, precision)
    if class_weights is None:  # the model's own loss (its config says which)
        return precision.forward(model, batch).loss
    import torch
    import torch.nn.functional as F

    labels = batch.pop("labels")
    logits = precision.forward(model, batch).logits.float()
    if labels.ndim == 2:
        return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=class_weights)
    return torch.nn.functional.cross_entropy(logits, labels, weight=class_weights)


def balanced_class_weights(labels: Sequence[int], num_classes: int) -> list[float]:
    """n_rows / (n_classes x rows of the class), scikit-learn's 'balanced' rule; a class
    with no training rows weighs 0 (no row of it is ever weighed)."""
    counts = [0] * num_classes
    for label in labels:
        counts[label] += 1
    total = sum(counts)
    return [total / (num_classes * c) if c else 0.0 for c in counts]


def positive_weights(labels: Sequence[Sequence[int]]) -> list[float]:
    """Multi-label 'balanced': each class's positives weigh (rows without it) / (rows with it),
    so a rare tag's few positives count as much as its many negatives (BCE's pos_weight)."""
    import numpy as np

    matrix = np.asarray(labels, dtype=np.int64)
    positives = matrix.sum(axis=0)
    negatives = len(matrix) - positives
    return [float(n / p) if p else 0.0 for n, p in zip(negatives, positives, strict=True)]


def adamw(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only: biases and LayerNorm weights are 1-D."""
    import torch

    if uses_layer_lrs(cfg):  # a rate per layer and for the head
        return torch.optim.AdamW(layer_groups(model, cfg), lr=cfg.learning_rate, fused=True)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    # The fused kernel (CUDA and CPU) updates every parameter in one pass over memory.
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)


def linear_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, batches: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup over `warmup_ratio` of the steps, then `lr_schedule`: linear decay to 0
    (the default), cosine decay to 0, or constant."""
    from transformers import get_scheduler

    steps = cfg.epochs * steps_per_epoch(batches, cfg.grad_accum)
    return get_scheduler(
        LR_SCHEDULES[cfg.lr_schedule],
        optimizer,
        num_warmup_steps=int(cfg.warmup_ratio * steps),
        num_training_steps=steps,
    )


def steps_per_epoch(batches: int, grad_accum: int) -> int:
    """Optimizer steps in an epoch of `batches` batches: the last partial accumulation steps too."""
    return math.ceil(batches / grad_accum)


def compile_model(model: torch.nn.Module) -> torch.nn.Module:
    """torch.compile with the batch and sequence sizes symbolic: one graph serves every
    length bucket and the short last batch, where static shapes compiled one graph each."""
    import torch

    # A fallback: should a graph specialise anyway, more recompiles than the default 8.
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), 64))
    return torch.compile(model, dynamic=True)
