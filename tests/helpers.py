"""Plain helpers the tests import (`from helpers import ...`); fixtures live in conftest.py."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from newsclf import TrainConfig

# Debian's headless Chromium, as the browser tests launch it (scripts/ensure_chromium.sh).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # No background calls home: this machine's network is closed, and a page must not need one.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

CLASS_WORDS = {
    "World": "minister election embassy troops parliament treaty summit refugees",
    "Sports": "match goal coach league striker tournament season champion",
    "Business": "shares profit market stocks investors earnings merger revenue",
    "Sci/Tech": "software chip internet computer wireless browser processor linux",
}


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
        # 48 tokens cut many AG News texts, which `auto` would read in chunks; the readings
        # have their own tests (test_long_texts.py).
        long_texts="truncate",
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


def tiny_bert_config(tokenizer, **overrides):
    """A 2-layer, 32-wide BERT config over the packaged tokenizer's vocabulary."""
    from transformers import BertConfig

    sizes = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return BertConfig(vocab_size=tokenizer.vocab_size, **{**sizes, **overrides})


def save_tiny(model_cls, config, tokenizer, path: Path) -> Path:
    """A randomly initialised model (seeded) and the tokenizer, saved as a checkpoint would be."""
    import torch

    torch.manual_seed(0)
    model_cls(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def model_weights(model_dir: Path) -> dict:
    """A saved model's tensors by name (model.safetensors), to compare weights exactly."""
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


def history_without_times(run_dir: Path) -> dict:
    """history.json without the wall-clock fields, which differ from run to run."""
    history = json.loads((run_dir / "history.json").read_text())
    for row in history["epochs"]:
        del row["seconds"], row["train_seconds"]
    return history


def crash_at_batch(
    monkeypatch, batch: int, error: type[BaseException] = KeyboardInterrupt
) -> Callable:
    """Make the `batch`-th training batch (counted over the whole run) raise `error`; returns
    the real `batch_loss`, for a test that must restore it without undoing its other patches."""
    module = sys.modules["newsclf.training.loop"]
    real, calls = module.batch_loss, []

    def loss(*args, **kwargs):
        calls.append(1)
        if len(calls) == batch:
            raise error("injected crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "batch_loss", loss)
    return real
