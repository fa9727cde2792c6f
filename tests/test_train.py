import json
import sys

import pytest

from helpers import synthetic_rows, tiny_config, write_csv
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
        "train_seconds",
        "seconds",
    }
    best_acc = max(row["val_accuracy"] for row in history["epochs"])
    assert history["epochs"][history["best_epoch"] - 1]["val_accuracy"] == best_acc
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["num_samples"] == 80
    assert sum(map(sum, metrics["confusion_matrix"])) == 80
    assert TrainConfig.from_yaml(run / "config.yaml").max_train_samples == 160
    assert not list(run.parent.glob(".*incomplete"))


def test_training_learns_a_separable_task(tmp_path, tiny_bert_dir):
    write_csv(tmp_path / "train.csv", synthetic_rows(400, seed=1))
    write_csv(tmp_path / "test.csv", synthetic_rows(80, seed=2))
    cfg = tiny_config(
        tiny_bert_dir,
        tmp_path / "runs",
        data=str(tmp_path / "train.csv"),
        test_data=str(tmp_path / "test.csv"),
        epochs=3,
        learning_rate=2e-3,
        max_train_samples=None,
        max_eval_samples=None,
        max_test_samples=None,
    )
    result = train(cfg)
    assert result.test_metrics["accuracy"] >= 0.9  # chance is 0.25
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]


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


def test_failure_leaves_nothing_half_written(tmp_path, tiny_bert_dir, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sys.modules["newsclf.train"], "_test", boom)
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
