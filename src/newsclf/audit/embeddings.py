"""Texts as vectors from a frozen encoder, for the audit's cross-fitted linear heads: the
packaged all-MiniLM-L6-v2 by default (any encoder directory works, a run's best_model too).

One length-sorted pass gives both poolings: the mean of the final hidden states over the
text's tokens (what the sentence-transformers model was trained for) and the first token's
state ([CLS]); docs/audit.md compares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BATCH = 64
# Tokens read per text: news items and requests fit; the cost grows with it.
MAX_TOKENS = 256


@dataclass
class Embeddings:
    mean: np.ndarray  # [N, H]: mean over the tokens, L2-normalised
    cls: np.ndarray  # [N, H]: the first token's final hidden state


def embed(
    texts: Sequence[str],
    encoder: str | None = None,
    batch_size: int = BATCH,
    progress: bool = False,
) -> Embeddings:
    """Both poolings of every text, in input order (the packaged MiniLM when `encoder` is
    None)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoTokenizer

    from newsclf.config import DEFAULT_MODEL
    from newsclf.quiet import quiet_libraries
    from newsclf.training.model import resolve_model

    path = resolve_model(encoder or DEFAULT_MODEL)
    with quiet_libraries("transformers"):
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    limit = min(getattr(tokenizer, "model_max_length", MAX_TOKENS) or MAX_TOKENS, MAX_TOKENS)
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=limit)[
        "input_ids"]]  # fmt: skip
    order = np.argsort(lengths, kind="stable")
    means, firsts = [], []
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="Embedding", disable=not progress, leave=False):
            batch = [texts[i] for i in order[start : start + batch_size]]
            enc = tokenizer(batch, truncation=True, max_length=limit, padding=True,
                            return_tensors="pt")  # fmt: skip
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            means.append(torch.nn.functional.normalize(mean, dim=1).numpy())
            firsts.append(hidden[:, 0].numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return Embeddings(np.concatenate(means)[inverse], np.concatenate(firsts)[inverse])
