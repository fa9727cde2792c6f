"""Learning rates per part of the model: layer-wise learning-rate decay (Howard & Ruder 2018,
Sun et al. 2019, ELECTRA) and the head's own rate.

With decay d over an encoder of L layers and base rate r: layer i (0 = the lowest) trains at
r * d**(L - 1 - i), so the top layer at r, and the embeddings at r * d**L; the head (everything
else: pooler, classifier) at r * `head_lr_multiplier`. Weight decay stays on matrices only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from newsclf.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from newsclf.config import TrainConfig

# `bert.encoder.layer.3.`, `distilbert.transformer.layer.3.`, `roberta.encoder.layer.3.`
LAYER = re.compile(r"\.layers?\.(\d+)\.")
EMBEDDINGS = "embeddings."
HEAD = "head"


def uses_layer_lrs(cfg: TrainConfig) -> bool:
    return cfg.layer_lr_decay != 1 or cfg.head_lr_multiplier != 1


def part_of(name: str) -> str | int:
    """'embeddings', an encoder layer's index, or 'head', for a parameter's name."""
    found = LAYER.search(name)
    if found:
        return int(found.group(1))
    return "embeddings" if EMBEDDINGS in name else HEAD


def lr_scales(model: torch.nn.Module, cfg: TrainConfig) -> dict[str, float]:
    """Each trained parameter's rate as a multiple of `learning_rate`, by name."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    parts = {n: part_of(n) for n in names}
    layers = 1 + max((p for p in parts.values() if isinstance(p, int)), default=-1)
    if layers == 0 and cfg.layer_lr_decay != 1:
        raise ConfigError(
            f"layer_lr_decay={cfg.layer_lr_decay!r}: {type(model).__name__} names no encoder "
            "layers (parameters named like `encoder.layer.3.`): expected layer_lr_decay=1 with "
            "this model."
        )
    decay = cfg.layer_lr_decay

    def scale(part: str | int) -> float:
        if part == HEAD:
            return cfg.head_lr_multiplier
        depth = layers if part == "embeddings" else layers - 1 - part
        return decay**depth

    return {n: scale(parts[n]) for n in names}


def layer_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups, one per rate and weight decay, ordered from the rate 1 (the top
    layer) down, then the head: the first group's rate is the schedule's, as history.json shows
    it."""
    scales = lr_scales(model, cfg)
    params = dict(model.named_parameters())
    groups: dict[tuple[float, bool], list[torch.Tensor]] = {}
    for name, scale in scales.items():
        matrix = params[name].ndim >= 2
        groups.setdefault((scale, matrix), []).append(params[name])

    def order(key: tuple[float, bool]) -> tuple[bool, float, bool]:
        scale, matrix = key
        return (scale != 1 and scale == cfg.head_lr_multiplier, -scale, not matrix)

    return [
        {
            "params": groups[key],
            "lr": cfg.learning_rate * key[0],
            "weight_decay": cfg.weight_decay if key[1] else 0.0,
        }
        for key in sorted(groups, key=order)
    ]
