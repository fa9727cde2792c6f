"""Integrated gradients for `newsclf.inference.explain` on the PyTorch backend (captum).

The attribution is taken on the output of the model's word embeddings (`get_input_embeddings`),
integrating from a baseline text of the same length in which every word token is the mask token
(the pad token where the tokenizer has none; the special tokens are kept), in `steps` steps
(Gauss-Legendre), for the class's log-odds (log p - log(1 - p), which does not saturate near
p = 1 as the probability does; a multi-label model's logit). Each token's attribution is summed
over the hidden dimension, then over the tokens of its word. Why [MASK] and not [PAD]: the demo
model reads an all-pad text as Sports at 98%, so against that baseline a sports text's words
only explain the last 1% (docs/explain.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from newsclf.inference.reading import Explained, Reading


def word_gradients(classifier: Explained, target: int, reading: Reading, steps: int) -> np.ndarray:
    """One score per word of `reading` for class `target`."""
    import numpy as np
    import torch
    from captum.attr import LayerIntegratedGradients

    backend = classifier.backend
    model, tokenizer = backend.model, backend.tokenizer
    device = next(model.parameters()).device
    ids = torch.tensor([reading.ids], device=device)
    special = torch.tensor([w is None for w in reading.token_words], device=device)
    baseline = torch.where(special.unsqueeze(0), ids, torch.full_like(ids, _baseline_id(tokenizer)))
    mask = torch.ones_like(ids)
    multi = classifier.multi_label

    def log_odds(input_ids: torch.Tensor) -> torch.Tensor:
        rows = input_ids.shape[0]
        logits = model(input_ids=input_ids, attention_mask=mask.expand(rows, -1)).logits.float()
        return logits if multi else class_log_odds(logits)

    was_training = model.training
    model.eval()
    try:
        ig = LayerIntegratedGradients(log_odds, model.get_input_embeddings())
        attributions = ig.attribute(ids, baselines=baseline, target=target, n_steps=steps,
                                    internal_batch_size=steps)  # fmt: skip
    finally:
        model.train(was_training)
    per_token = attributions.sum(dim=-1)[0].detach().float().cpu().numpy()
    scores = np.zeros(len(reading.spans))
    for token, word in enumerate(reading.token_words):
        if word is not None:
            scores[word] += per_token[token]
    return scores


def _baseline_id(tokenizer: object) -> int:
    for name in ("mask_token_id", "pad_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def class_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """Per class c: log p_c - log(1 - p_c) of the softmax, computed from the logits as
    logit_c - logsumexp(the other logits), stable however close p_c is to 1."""
    import torch

    classes = logits.shape[-1]
    others = logits.unsqueeze(-2).expand(*logits.shape[:-1], classes, classes)
    eye = torch.eye(classes, dtype=torch.bool, device=logits.device)
    rest = torch.logsumexp(others.masked_fill(eye, float("-inf")), dim=-1)
    return logits - rest
