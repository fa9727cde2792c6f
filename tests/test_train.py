import json
import sys

import pytest

from helpers import CLASS_WORDS, synthetic_rows, tiny_config, write_csv
from newsclf import DataError, RunExistsError, TrainConfig, train
from newsclf.data import AG_NEWS_LABELS


def test_tiny_run_writes_the_run_directory(tiny_run):
    run = tiny_run.run_dir
    assert sorted(p.name for p in run.iterdir()) == [
        "best_model",
        "config.yaml",
        "data.json",
        "history.json",
        "test_metrics.json",
    ]
    best = run / "best_model"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {
        p.name for p in best.iterdir()
    }
    config = json.loads((best / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(AG_NEWS_LABELS)}
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history["epochs"]] == [1, 2]
    assert set(history["epochs"][0]) == {
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "val_f1",
        "learning_rate",
        "steps",
        "train_seconds",
        "seconds",
    }
    assert [row["steps"] for row in history["epochs"]] == [10, 10]  # 160 rows, batch 16
    assert history["num_processes"] == 1
    best_acc = max(row["val_accuracy"] for row in history["epochs"])
    assert history["epochs"][history["best_epoch"] - 1]["val_accuracy"] == best_acc
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["num_samples"] == 80
    assert sum(map(sum, metrics["confusion_matrix"])) == 80
    assert TrainConfig.from_yaml(run / "config.yaml").max_train_samples == 160
    assert not list(run.parent.glob(".*incomplete"))


def test_one_labelled_file_is_split_into_train_validation_and_test(tmp_path, tiny_bert_dir, capsys):
    """One labelled file and no test file: test, then validation, are carved from it
    (stratified, seeded), the output and data.json say so, and the saved best model holds
    trained weights. Nothing here depends on what the tiny model learns."""
    import torch
    from safetensors.torch import load_file

    write_csv(tmp_path / "labelled.csv", synthetic_rows(200, seed=1))
    result = train(
        tiny_config(
            tiny_bert_dir,
            tmp_path / "runs",
            data=str(tmp_path / "labelled.csv"),
            max_train_samples=None,
            max_eval_samples=None,
            max_test_samples=None,
        )
    )
    out = capsys.readouterr().out
    assert "test: 20 rows held out from train (10%, stratified, seed 42)" in out
    assert "validation: 18 rows held out from train (10%, stratified, seed 42)" in out
    data = json.loads((result.run_dir / "data.json").read_text())
    carved = {"from": "train", "fraction": 0.1, "seed": 42, "method": "stratified"}
    assert data["carved"]["test"] == carved
    splits = data["splits"]
    assert [splits[s]["rows"] for s in ("train", "validation", "test")] == [162, 18, 20]
    assert splits["test"]["class_counts"] == {name: 5 for name in sorted(CLASS_WORDS)}
    assert result.test_metrics["num_samples"] == 20
    # Training moved the encoder's weights, and best_model/ holds the moved ones.
    name = "encoder.layer.0.attention.self.query.weight"
    start = load_file(tiny_bert_dir / "model.safetensors")[name]
    trained = load_file(result.run_dir / "best_model" / "model.safetensors")[f"bert.{name}"]
    assert start.shape == trained.shape and not torch.equal(start, trained)


def test_distilbert_architecture_goes_through_the_same_path(tmp_path, tiny_distilbert_dir):
    result = train(
        tiny_config(tiny_distilbert_dir, tmp_path, max_train_samples=64, max_test_samples=32)
    )
    config = json.loads((result.run_dir / "best_model" / "config.json").read_text())
    assert config["model_type"] == "distilbert"
    assert config["id2label"]["1"] == "Sports"


def test_existing_run_is_refused_unless_overwrite(tmp_path, tiny_bert_dir):
    cfg = tiny_config(
        tiny_bert_dir, tmp_path, max_train_samples=32, max_test_samples=16, max_eval_samples=16
    )
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "history.json").write_text("{}")
    with pytest.raises(RunExistsError, match="--overwrite"):
        train(cfg)
    cfg.overwrite = True
    train(cfg)
    assert (tmp_path / "tiny" / "best_model").is_dir()


def test_failure_before_the_first_checkpoint_leaves_nothing(tmp_path, tiny_bert_dir, monkeypatch):
    """Nothing to resume from: nothing is kept (a failure after a checkpoint keeps the run,
    tests/test_resume.py)."""

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sys.modules["newsclf.training.loop"], "validate", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        train(
            tiny_config(
                tiny_bert_dir,
                tmp_path,
                max_train_samples=32,
                max_test_samples=16,
                max_eval_samples=16,
            )
        )
    assert list(tmp_path.iterdir()) == []


def test_bad_data_fails_before_anything_is_written(tmp_path, tiny_bert_dir):
    write_csv(tmp_path / "train.csv", synthetic_rows(20), header=("body", "label"))
    with pytest.raises(DataError, match="found columns"):
        train(
            tiny_config(
                tiny_bert_dir,
                tmp_path / "runs",
                data=str(tmp_path / "train.csv"),
                test_data=str(tmp_path / "train.csv"),
            )
        )
    assert not (tmp_path / "runs").exists()
