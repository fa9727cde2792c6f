"""Runs whose content the tests control: synthetic data, embeddings and predictions made by hand,
so what the pictures and the report must show is known whatever any model would learn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsclf.config import TrainConfig
from newsclf.data import LoadedData
from newsclf.evaluation import compute_metrics, sample_predictions
from newsclf.inference import Inference

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
# Words that mark each class, so the TF-IDF baseline has something real to learn.
TOPIC_WORDS = [
    ["minister", "election", "embassy", "treaty", "rebels", "parliament"],
    ["goal", "coach", "season", "striker", "tournament", "medal"],
    ["shares", "profit", "merger", "investors", "quarterly", "bank"],
    ["software", "chip", "internet", "laptop", "researchers", "satellite"],
]
# "<b>&" and "</script>" check that texts are escaped on the pages.
COMMON_WORDS = ["the", "a", "today", "said", "new", "report", "week", "after", "<b>&", "</script>"]
HISTORY = {
    "best_epoch": 2,
    "epochs": [
        {"epoch": 1, "train_loss": 1.2, "val_loss": 0.9, "val_accuracy": 0.7, "val_f1": 0.68,
         "learning_rate": 1e-4, "seconds": 12.5},
        {"epoch": 2, "train_loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.85, "val_f1": 0.84,
         "learning_rate": 5e-5, "seconds": 11.5},
        {"epoch": 3, "train_loss": 0.4, "val_loss": 0.55, "val_accuracy": 0.83, "val_f1": 0.82,
         "learning_rate": 0.0, "seconds": 11.0},
    ],
}  # fmt: skip
WRONG_EVERY = 5  # every 5th test prediction is wrong (the next class): rows 0, 5, 10, ...


def make_texts(labels: list[int], seed: int, topic_share: float = 0.5) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(
            rng.choice(TOPIC_WORDS[y]) if rng.random() < topic_share else rng.choice(COMMON_WORDS)
            for _ in range(12)
        )
        for y in labels
    ]


def make_data(n_train: int = 80, n_test: int = 60, seed: int = 0, **kw: Any) -> LoadedData:
    """Classes take turns (row i is class i % 4), so every split holds every class."""
    from datasets import Dataset, DatasetDict

    def split(n: int, offset: int) -> Dataset:
        labels = [i % len(LABELS) for i in range(n)]
        return Dataset.from_dict({"text": make_texts(labels, seed + offset, **kw), "label": labels})

    splits = DatasetDict(train=split(n_train, 0), validation=split(20, 1), test=split(n_test, 2))
    return LoadedData(splits=splits, label_names=list(LABELS), source="synthetic")


def make_inference(labels: list[int], seed: int = 0, hidden: int = 16) -> Inference:
    """Clustered embeddings, one cluster per class; every 5th prediction is wrong."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    centres = rng.normal(scale=4.0, size=(len(LABELS), hidden))
    embeddings = centres[labels] + rng.normal(size=(len(labels), hidden))
    predicted = labels.copy()
    predicted[::WRONG_EVERY] = (predicted[::WRONG_EVERY] + 1) % len(LABELS)
    probabilities = np.full((len(labels), len(LABELS)), 0.1)
    probabilities[np.arange(len(labels)), predicted] = 0.7
    return Inference(probabilities=probabilities, embeddings=embeddings)


@dataclass
class SyntheticRun:
    """What train holds when it calls write_visuals, with the same files already on disk."""

    run_dir: Path
    data: LoadedData
    inference: Inference
    config: TrainConfig
    history: dict[str, Any]
    metrics: dict[str, Any]

    def write_visuals(self) -> list[Path]:
        from newsclf.report import write_visuals

        return write_visuals(
            self.run_dir, self.data, self.inference, self.config, self.history, self.metrics
        )


def synthetic_run(run_dir: Path, **kw: Any) -> SyntheticRun:
    """A run directory as train leaves it before write_visuals: config, history, test metrics."""
    data = make_data(**kw)
    test = data.splits["test"]
    inference = make_inference(test["label"])
    run_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(name=run_dir.name, output_dir=str(run_dir.parent))
    config.save_yaml(run_dir / "config.yaml")
    (run_dir / "history.json").write_text(json.dumps(HISTORY))
    metrics = compute_metrics(test["label"], inference.predicted, LABELS)
    metrics["samples"] = sample_predictions(test["text"], test["label"], inference, LABELS)
    metrics.update(split="test", seconds=1.5)
    (run_dir / "test_metrics.json").write_text(json.dumps(metrics))
    return SyntheticRun(run_dir, data, inference, config, json.loads(json.dumps(HISTORY)), metrics)


def expected_points(run: SyntheticRun) -> dict[tuple[str, bool], int]:
    """How many test points each (true class, prediction correct?) pair has, by construction."""
    counts: dict[tuple[str, bool], int] = {}
    for label, predicted in zip(
        run.data.splits["test"]["label"], run.inference.predicted, strict=True
    ):
        key = (LABELS[label], bool(label == predicted))
        counts[key] = counts.get(key, 0) + 1
    return counts
