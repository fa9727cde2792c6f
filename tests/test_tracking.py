"""Experiment tracking: what a run logs to TensorBoard and MLflow, read back with their own
readers (TensorBoard's event reader, `mlflow.MlflowClient` on an SQLite store), against what
the run wrote to history.json and test_metrics.json; a resumed run logs into the same tracked
run without any step twice; a tracker that cannot start stops the run before it trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import crash_at_batch, tiny_config
from newsclf import ConfigError, resume, train

pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

# 96 rows, batch 16: 6 optimizer steps an epoch, 12 in all; a log every 4 steps.
SMALL = dict(epochs=2, max_train_samples=96, max_eval_samples=24, max_test_samples=16)
LOG_EVERY = 4


def tracked_config(model_dir: Path, out: Path, **overrides):
    values = dict(report_to=["tensorboard", "mlflow"], log_every=LOG_EVERY, **SMALL)
    values["tracking_uri"] = f"sqlite:///{out / 'mlflow.db'}"
    return tiny_config(model_dir, out, **{**values, **overrides})


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard shows for the run, as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def mlflow_runs(out: Path) -> list:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("newsclf")
    return [client, client.search_runs([experiment.experiment_id])]


def metric_history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    """The same steps, and the same values (float32 round trips aside)."""
    assert [step for step, _ in got] == [step for step, _ in want]
    assert [value for _, value in got] == pytest.approx([value for _, value in want], rel=1e-6)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_bert_dir):
    out = tmp_path_factory.mktemp("tracked")
    return train(tracked_config(tiny_bert_dir, out)), out


def test_tensorboard_holds_the_runs_curves(tracked):
    result, _ = tracked
    history = json.loads((result.run_dir / "history.json").read_text())
    logged = scalars(result.run_dir)
    assert [step for step, _ in logged["train/loss"]] == [4, 8, 12]
    assert [step for step, _ in logged["train/learning_rate"]] == [4, 8, 12]
    epoch_ends = [6, 12]
    expected = [row["val_accuracy"] for row in history["epochs"]]
    assert [s for s, _ in logged["val/accuracy"]] == epoch_ends
    assert [v for _, v in logged["val/accuracy"]] == pytest.approx(expected)
    assert [v for _, v in logged["val/loss"]] == pytest.approx(
        [row["val_loss"] for row in history["epochs"]]
    )
    same(logged["test/accuracy"], [(12, result.test_metrics["accuracy"])])


def test_mlflow_holds_the_run_its_config_and_its_model(tracked):
    result, out = tracked
    client, runs = mlflow_runs(out)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert run.data.params["learning_rate"] == "0.0005"  # tiny_config's
    assert run.data.params["report_to"] == "tensorboard,mlflow"
    history = json.loads((result.run_dir / "history.json").read_text())
    f1 = [(6, history["epochs"][0]["val_f1"]), (12, history["epochs"][1]["val_f1"])]
    same(metric_history(client, run.info.run_id, "val/f1"), f1)
    assert run.data.metrics["test/macro_f1"] == pytest.approx(result.test_metrics["macro_f1"])
    artefacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"best_model", "history.json", "test_metrics.json"} <= artefacts
    model_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "best_model")}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= model_files


def test_resume_continues_the_same_tracked_run_without_repeating_a_step(
    tmp_path, tiny_bert_dir, monkeypatch, tracked
):
    """Crash at batch 11 (mid-epoch 2; checkpoints every 4 steps), resume: one MLflow run, the
    TensorBoard steps once each, and the same values as the uninterrupted run."""
    crash_at_batch(monkeypatch, 11)
    with pytest.raises(KeyboardInterrupt):
        train(tracked_config(tiny_bert_dir, tmp_path, save_every=4))
    monkeypatch.undo()
    result = resume(tmp_path / "tiny")

    uninterrupted, out = tracked
    same(scalars(result.run_dir)["train/loss"], scalars(uninterrupted.run_dir)["train/loss"])
    for tag, points in scalars(result.run_dir).items():
        steps = [step for step, _ in points]
        assert len(steps) == len(set(steps)), tag
    client, runs = mlflow_runs(tmp_path)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    reference_client, reference = mlflow_runs(out)
    for key in ("train/loss", "val/accuracy", "val/loss"):
        got = metric_history(client, runs[0].info.run_id, key)
        same(got, metric_history(reference_client, reference[0].info.run_id, key))


def test_a_tracker_that_cannot_start_stops_the_run_before_it_trains(
    tmp_path, tiny_bert_dir, monkeypatch
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "mlflow" else real(n, *a)
    )
    with pytest.raises(ConfigError, match=r"needs the mlflow package.*pip install"):
        train(tracked_config(tiny_bert_dir, tmp_path))
    monkeypatch.undo()
    cfg = tracked_config(tiny_bert_dir, tmp_path, tracking_uri="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"http://127.0.0.1:9 cannot be reached"):
        train(cfg)
    assert list(tmp_path.iterdir()) == []  # nothing written
