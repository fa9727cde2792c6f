"""Integrated gradients for `newsclf.inference.explain` on the PyTorch backend (captum).

The attribution is taken on the output of the model's word embeddings (`get_input_embeddings`),
integrating from a baseline text of the same length in which every word token is the pad token
(the special tokens are kept), in `steps` steps (Gauss-Legendre), for the class's probability
(softmax, or the tag's sigmoid for a multi-label model). Each token's attribution is summed
over the hidden dimension, then over the tokens of its word.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from newsclf.inference.reading import Explained, Reading


def word_gradients(
    classifier: Explained, text: str, target: int, reading: Reading, steps: int
) -> np.ndarray:
    """One score per word of `reading` for class `target`."""
    import numpy as np
    import torch
    from captum.attr import LayerIntegratedGradients

    backend = classifier.backend
    model, tokenizer = backend.model, backend.tokenizer
    device = next(model.parameters()).device
    enc = tokenizer(text, truncation=True, max_length=backend.max_length, return_tensors="pt")
    enc = {name: col.to(device) for name, col in enc.items()}
    ids = enc["input_ids"]
    special = torch.tensor([w is None for w in reading.token_words], device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    baseline = torch.where(special.unsqueeze(0), ids, torch.full_like(ids, pad))
    others = {k: v for k, v in enc.items() if k != "input_ids"}
    multi = classifier.multi_label

    def probability(input_ids: torch.Tensor) -> torch.Tensor:
        rows = input_ids.shape[0]
        extra = {k: v.expand(rows, -1) for k, v in others.items()}
        logits = model(input_ids=input_ids, **extra).logits.float()
        return torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)

    was_training = model.training
    model.eval()
    try:
        ig = LayerIntegratedGradients(probability, model.get_input_embeddings())
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
