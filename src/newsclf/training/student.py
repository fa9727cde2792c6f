"""Distillation: a smaller student from a fine-tuned teacher (`newsclf distill`).

The student is the teacher with some of its encoder layers removed (`newsclf.distillation`
says which), so it starts from the teacher's embeddings, kept layers and head rather than from
scratch (Sanh et al. 2019). It then trains as any run does, on the teacher's logits for every
training row as well as the labels (`objectives.Distillation`), and on texts without labels
when given; it is validated, calibrated and saved like any run: a plain checkpoint.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf.data.tokenize import DOC_COLUMN
from newsclf.distillation import (
    LABELED_COLUMN,
    TEACHER_COLUMN,
    UNLABELED_COLUMN,
    default_student_layers,
    student_layer_ids,
)
from newsclf.errors import ConfigError, ModelError
from newsclf.model_dir import find_model_dir, model_label_names
from newsclf.quiet import quiet_libraries
from newsclf.training.model import forget_fitted

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.precision import TrainingPrecision


def prepare_student(cfg: TrainConfig, data: LoadedData) -> tuple[TrainConfig, PreTrainedModel]:
    """The student built from `cfg.distill_from`, and the config saying so: the model is the
    teacher's directory (its tokenizer) and `student_layers` the number kept."""
    teacher_dir = find_model_dir(cfg.distill_from)
    names = model_label_names(teacher_dir)
    if names != data.label_names:
        raise ConfigError(
            f"The teacher {teacher_dir} knows the classes {names[:8]}; the data has "
            f"{data.label_names[:8]}. A student learns the teacher's classes: distil on the "
            "data the teacher was trained on (`newsclf distill RUN` reads it from the run)."
        )
    teacher = load_teacher(teacher_dir)
    layers = cfg.student_layers or default_student_layers(len(encoder_layers(teacher)))
    student = forget_fitted(student_of(teacher, layers))
    return replace(cfg, model=str(teacher_dir), student_layers=layers), student


def load_teacher(path: Path) -> PreTrainedModel:
    from transformers import AutoModelForSequenceClassification

    with quiet_libraries("transformers"):
        return AutoModelForSequenceClassification.from_pretrained(path, dtype="float32")


def encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of transformer layers: the one ModuleList with as many entries as the
    config has hidden layers (BERT's `encoder.layer`, DistilBERT's `transformer.layer`)."""
    import torch

    count = model.config.num_hidden_layers
    stacks = [
        m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == count
    ]  # fmt: skip
    if len(stacks) != 1:
        raise ModelError(
            f"{type(model).__name__}: found {len(stacks)} stacks of {count} layers where one "
            "was expected; newsclf distils encoders whose layers form one list (BERT, MiniLM, "
            "DistilBERT, RoBERTa)."
        )
    return stacks[0]


def student_of(teacher: PreTrainedModel, layers: int) -> PreTrainedModel:
    """`teacher` with only the layers `student_layer_ids` keeps, in order (the teacher is
    changed in place and returned: load a fresh one to keep it)."""
    import torch

    stack = encoder_layers(teacher)
    keep = student_layer_ids(len(stack), layers)
    kept = torch.nn.ModuleList(stack[i] for i in keep)
    for parent in teacher.modules():
        for name, child in parent.named_children():
            if child is stack:
                setattr(parent, name, kept)
    for new_index, layer in enumerate(kept):  # attention caches index layers by position
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    teacher.config.num_hidden_layers = layers
    return teacher


def add_teacher_targets(
    cfg: TrainConfig,
    train_set: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    data: LoadedData,
    precision: TrainingPrecision,
) -> datasets.Dataset:
    """The training rows, plus the unlabeled texts, each with the teacher's logits."""
    import datasets as ds

    from newsclf.data import tokenize
    from newsclf.reading import Reading
    from newsclf.training.console import say

    rows = train_set.add_column(LABELED_COLUMN, [1] * len(train_set))
    if cfg.unlabeled_data:
        extra = unlabeled_rows(cfg.unlabeled_data, data)
        extra = tokenize(extra, tokenizer, Reading.of_config(cfg)).cast(train_set.features)
        extra = extra.add_column(LABELED_COLUMN, [0] * len(extra))
        rows = ds.concatenate_datasets([rows, extra])
        data.notes.append(f"distillation: {len(extra):,} rows from {cfg.unlabeled_data}")
    say(f"Teacher: scoring {len(rows):,} training rows ({cfg.distill_from})")
    teacher = load_teacher(find_model_dir(cfg.distill_from))
    logits = teacher_logits(teacher, rows, tokenizer, cfg, precision)
    return rows.add_column(TEACHER_COLUMN, logits.tolist())


def unlabeled_rows(path: str, data: LoadedData) -> datasets.Dataset:
    """The texts of `path` as rows the tokenizer takes, with a placeholder label (the loss
    ignores it: their LABELED_COLUMN is 0)."""
    import datasets as ds

    from newsclf.inference.files import read_texts

    texts = read_texts(path, UNLABELED_COLUMN)
    if not texts:
        raise ConfigError(f"unlabeled_data={path!r}: the file holds no texts.")
    label = [0] * len(data.label_names) if data.multi_label else 0
    return ds.Dataset.from_dict({"text": texts, "label": [label] * len(texts)})


def teacher_logits(
    teacher: torch.nn.Module,
    rows: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    cfg: TrainConfig,
    precision: TrainingPrecision,
) -> np.ndarray:
    """The teacher's logits for every tokenized row, in row order, from the batches validation
    uses (`loaders.eval_loader`: shortest rows first, each padded to its own longest)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from newsclf.quiet import show_progress
    from newsclf.training.loaders import eval_loader

    loader = eval_loader(cfg, tokenizer, rows)
    out = np.zeros((len(rows), teacher.config.num_labels), dtype=np.float32)
    teacher.to(torch.device(precision.device_type)).eval()
    batches = zip(loader.batch_sampler, loader, strict=True)  # each batch's row ids, the batch
    with torch.inference_mode():
        for ids, batch in tqdm(batches, total=len(loader), desc="Teacher",
                               disable=not show_progress(cfg.quiet)):  # fmt: skip
            inputs = {k: v.to(teacher.device) for k, v in batch.items() if k not in _NOT_INPUTS}
            out[ids] = precision.forward(teacher, inputs).logits.float().cpu().numpy()
    return out


_NOT_INPUTS = ("labels", DOC_COLUMN, LABELED_COLUMN, TEACHER_COLUMN)
