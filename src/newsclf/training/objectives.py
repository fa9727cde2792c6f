"""The training loss when an option changes it: label smoothing, R-Drop (Liang et al.
2021), multi-sample dropout (Inoue 2019), and a student's distillation loss (Hinton et al.
2015). Without them the loss stays `optim.batch_loss`'s plain cross-entropy, computed as before.

All three act on the training loss only: the model's architecture, and so the saved checkpoint,
stay those of a plain `AutoModelForSequenceClassification`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsclf.accuracy_options import check_loss_options_task
from newsclf.distillation import LABELED_COLUMN, TEACHER_COLUMN
from newsclf.errors import ConfigError
from newsclf.task import MULTI_LABEL, PROBLEM_TYPES

if TYPE_CHECKING:
    import torch

    from newsclf.config import TrainConfig
    from newsclf.precision import TrainingPrecision


def cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy in fp32; with `label_smoothing` e the target is (1 - e) on the label
    plus e / n_classes on every class (Szegedy et al. 2016)."""
    import torch

    return torch.nn.functional.cross_entropy(
        logits.float(), labels, weight=class_weights, label_smoothing=label_smoothing
    )


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """(KL(p_a || p_b) + KL(p_b || p_a)) / 2 per row, averaged over the rows: R-Drop's term."""
    import torch

    log_a = torch.log_softmax(logits_a.float(), dim=-1)
    log_b = torch.log_softmax(logits_b.float(), dim=-1)
    kl_ab = (log_a.exp() * (log_a - log_b)).sum(dim=-1)
    kl_ba = (log_b.exp() * (log_b - log_a)).sum(dim=-1)
    return ((kl_ab + kl_ba) / 2).mean()


def rdrop_loss(
    logits_a: torch.Tensor,
    logits_b: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """R-Drop: the mean of the two passes' cross-entropies plus `alpha` times their symmetric
    KL (Liang et al. 2021, eq. 3, with the KL averaged over rows rather than summed)."""
    ce = cross_entropy(logits_a, labels, class_weights, label_smoothing)
    ce = (ce + cross_entropy(logits_b, labels, class_weights, label_smoothing)) / 2
    return ce + alpha * symmetric_kl(logits_a, logits_b)


def uses_objective(cfg: TrainConfig) -> bool:
    """Whether an option changes the training loss (else `batch_loss` is the plain one)."""
    return cfg.label_smoothing > 0 or cfg.rdrop_alpha > 0 or cfg.multi_sample_dropout > 1


@dataclass
class Objective:
    """The loss of one training batch under the options; `batch_loss` calls it when set."""

    label_smoothing: float = 0.0
    rdrop_alpha: float = 0.0
    samples: int = 1  # multi-sample dropout: dropout draws on the head
    head: HeadFeatures | None = None

    def __call__(
        self,
        model: torch.nn.Module,
        batch: dict[str, torch.Tensor],
        class_weights: torch.Tensor | None,
        precision: TrainingPrecision,
    ) -> torch.Tensor:
        import torch

        labels = batch.pop("labels")
        if self.rdrop_alpha > 0:
            doubled = {k: torch.cat([v, v]) for k, v in batch.items()}
            logits_a, logits_b = precision.forward(model, doubled).logits.chunk(2)
            return rdrop_loss(
                logits_a, logits_b, labels, self.rdrop_alpha, class_weights, self.label_smoothing
            )
        logits = precision.forward(model, batch).logits
        loss = cross_entropy(logits, labels, class_weights, self.label_smoothing)
        if self.head is None:
            return loss
        with precision.autocast():
            extra = self.head.resample(self.samples - 1)
        for more in extra:
            loss = loss + cross_entropy(more, labels, class_weights, self.label_smoothing)
        return loss / self.samples


class HeadFeatures:
    """Multi-sample dropout without new model code: a hook keeps the input of the model's head
    dropout (`model.dropout`, followed by the linear `model.classifier`, as in BERT and
    DistilBERT) on each forward pass; `resample` runs that dropout and the classifier again."""

    def __init__(self, model: torch.nn.Module) -> None:
        import torch

        dropout, classifier = getattr(model, "dropout", None), getattr(model, "classifier", None)
        if not (isinstance(dropout, torch.nn.Dropout) and isinstance(classifier, torch.nn.Linear)):
            raise ConfigError(
                f"multi_sample_dropout: {type(model).__name__} has no head made of a dropout "
                "(`dropout`) then a linear layer (`classifier`), as BERT and DistilBERT have: "
                "expected multi_sample_dropout=1 with this model."
            )
        self.dropout, self.classifier = dropout, classifier
        self.features: torch.Tensor | None = None
        self.handle = dropout.register_forward_pre_hook(self._keep)

    def _keep(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.features = args[0] if module.training else None

    def resample(self, draws: int) -> list[torch.Tensor]:
        """`draws` more logits of the last training forward pass, each with its own mask."""
        if self.features is None:
            raise RuntimeError("multi-sample dropout: no training forward pass to resample")
        features, self.features = self.features, None
        return [self.classifier(self.dropout(features)).float() for _ in range(draws)]


def distillation_loss(
    logits: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    labeled: torch.Tensor,
    alpha: float,
    temperature: float,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """alpha x T^2 x KL(teacher || student), both softened by T, over every row, plus
    (1 - alpha) x the labels' loss over the labeled rows (`labeled` 1). T^2 keeps the soft
    term's gradients the size of the hard one's whatever T (Hinton et al. 2015, section 2).
    Multi-label (labels a 0/1 matrix): each tag's sigmoid is a two-class softmax, so the KL is
    the binary one per tag, averaged over tags like the binary cross-entropy."""
    import torch
    import torch.nn.functional as F

    student, teacher, t = logits.float() / temperature, teacher.float() / temperature, temperature
    if labels.ndim == 2:
        p = torch.sigmoid(teacher)
        log_q, log_not_q = F.logsigmoid(student), F.logsigmoid(-student)
        log_p, log_not_p = F.logsigmoid(teacher), F.logsigmoid(-teacher)
        kl = (p * (log_p - log_q) + (1 - p) * (log_not_p - log_not_q)).mean(dim=-1)
        hard = F.binary_cross_entropy_with_logits(
            logits.float(), labels.float(), pos_weight=class_weights, reduction="none"
        ).mean(dim=-1)
    else:
        log_p, log_q = F.log_softmax(teacher, dim=-1), F.log_softmax(student, dim=-1)
        kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)
        hard = F.cross_entropy(logits.float(), labels, weight=class_weights, reduction="none")
    soft = t * t * kl.mean()
    mask = labeled.float()
    # Rows without labels add nothing to the hard term; a batch of them only has the soft one.
    hard = (hard * mask).sum() / mask.sum().clamp(min=1.0)
    return alpha * soft + (1 - alpha) * hard


@dataclass
class Distillation:
    """A student's loss: its batch carries the teacher's logits and which rows have labels."""

    alpha: float
    temperature: float

    def __call__(
        self,
        model: torch.nn.Module,
        batch: dict[str, torch.Tensor],
        class_weights: torch.Tensor | None,
        precision: TrainingPrecision,
    ) -> torch.Tensor:
        labels, teacher = batch.pop("labels"), batch.pop(TEACHER_COLUMN)
        labeled = batch.pop(LABELED_COLUMN)
        logits = precision.forward(model, batch).logits
        return distillation_loss(
            logits, teacher, labels, labeled, self.alpha, self.temperature, class_weights
        )


def make_objective(cfg: TrainConfig, model: torch.nn.Module) -> Objective | Distillation | None:
    """The options' loss for `model` (before Accelerate wraps it), or None for the plain one."""
    if cfg.distill_from is not None:
        return Distillation(cfg.distill_alpha, cfg.distill_temperature)
    if not uses_objective(cfg):
        return None
    problem = getattr(getattr(model, "config", None), "problem_type", None)
    check_loss_options_task(cfg, multi_label=problem == PROBLEM_TYPES[MULTI_LABEL])
    head = HeadFeatures(model) if cfg.multi_sample_dropout > 1 else None
    return Objective(cfg.label_smoothing, cfg.rdrop_alpha, cfg.multi_sample_dropout, head)
