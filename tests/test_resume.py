"""Resume after a crash: the resumed run ends with the uninterrupted run's history.json.

Everything here is compared with an uninterrupted run of the same config in the same process
(CPU, same seed), so nothing depends on what the tiny model learns: only on the resumed run
replaying the same batches, dropout masks and optimizer updates."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import crash_at_batch, history_without_times, tiny_config
from newsclf import RunExistsError, resume, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(epochs=2, max_train_samples=96, max_eval_samples=24, max_test_samples=16)


def _train_module():
    return sys.modules["newsclf.training.loop"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_bert_dir):
    out = tmp_path_factory.mktemp("uninterrupted")
    return history_without_times(train(tiny_config(tiny_bert_dir, out, **SMALL)).run_dir)


@pytest.mark.parametrize(
    ("save_every", "crash_batch", "resumed_at"),
    [
        (4, 11, "checkpoint-8"),  # mid-epoch 2 (6 batches an epoch): the order trap of #2016
        (None, 9, "checkpoint-6"),  # the default, end-of-epoch checkpoints
    ],
)
def test_crash_then_resume_gives_the_uninterruptedhistory_without_times(
    tmp_path, tiny_bert_dir, monkeypatch, capsys, uninterrupted, save_every, crash_batch, resumed_at
):
    cfg = tiny_config(tiny_bert_dir, tmp_path, save_every=save_every, **SMALL)
    crash_at_batch(monkeypatch, crash_batch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    staging = tmp_path / ".tiny.incomplete"
    assert [p.name for p in staging.glob("checkpoint-*")] == [resumed_at]  # keep_checkpoints=1
    assert "newsclf train --resume" in capsys.readouterr().err
    monkeypatch.undo()
    result = resume(tmp_path / "tiny")
    assert f"Resuming from {resumed_at}" in capsys.readouterr().out
    assert history_without_times(result.run_dir) == uninterrupted
    assert not staging.exists() and not list(result.run_dir.glob("checkpoint-*"))


def test_kill_9_mid_epoch_then_resume_gives_the_uninterruptedhistory_without_times(
    tmp_path, tiny_bert_dir, uninterrupted
):
    """A real crash: the training process is killed (SIGKILL, no cleanup runs) once its
    first checkpoint exists, wherever it then is, mid-save included."""
    argv = [sys.executable, "-m", "newsclf", "train", "--model", str(tiny_bert_dir)]
    for key, value in {
        **vars(tiny_config(tiny_bert_dir, tmp_path, **SMALL)),
        "save_every": 2,
    }.items():
        if isinstance(value, bool):
            argv.append(("--" if value else "--no-") + key.replace("_", "-"))
        elif value is not None and key != "model":
            argv += ["--" + key.replace("_", "-"), str(value)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    staging = tmp_path / ".tiny.incomplete"
    deadline = time.monotonic() + 120
    while not list(staging.glob("checkpoint-[0-9]*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not (tmp_path / "tiny").exists()
    result = resume(tmp_path / "tiny")
    assert history_without_times(result.run_dir) == uninterrupted


def test_failure_after_a_checkpoint_keeps_the_run_to_resume(tmp_path, tiny_bert_dir, monkeypatch):
    """A failure while scoring the test split keeps the trained run; a new `train` of the same
    name will not silently wipe it; `--resume` finishes it without training again."""
    cfg = tiny_config(tiny_bert_dir, tmp_path, **SMALL)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device", "test_metrics.json")

    monkeypatch.setattr(sys.modules["newsclf.training.run"], "evaluate_best_model", boom)
    with pytest.raises(Exception, match=r"No space left.*newsclf train --resume"):
        train(cfg)
    with pytest.raises(RunExistsError, match="interrupted run.*--resume"):
        train(cfg)
    monkeypatch.undo()
    trained = []
    monkeypatch.setattr(_train_module(), "train_epoch", lambda *a: trained.append(a))
    result = resume(tmp_path / ".tiny.incomplete")  # the staging directory itself works too
    assert trained == [] and result.test_metrics["num_samples"] == 16
    with pytest.raises(RunExistsError, match="finished run"):
        resume(result.run_dir)


def test_resume_without_a_run_or_checkpoint_says_why(tmp_path):
    with pytest.raises(RunExistsError, match="No interrupted run"):
        resume(tmp_path / "nothing")
    (tmp_path / ".early.incomplete").mkdir()
    with pytest.raises(RunExistsError, match="no checkpoint"):
        resume(tmp_path / "early")


def test_a_crash_while_saving_keeps_the_previous_best_model_loadable(
    tmp_path, tiny_bert_dir, monkeypatch
):
    """Epoch 2 improves; saving its best_model/ dies half-way (weights written, tokenizer
    not): best_model/ is still epoch 1's, complete and loadable."""
    from safetensors.torch import load_file

    from newsclf import Classifier

    module = _train_module()
    scores = iter([0.5, 0.75])
    real_validate = module.validate
    monkeypatch.setattr(
        module,
        "validate",
        lambda e: (real_validate(e)[0], {"accuracy": next(scores), "macro_f1": 0.5}),
    )
    cfg = tiny_config(tiny_bert_dir, tmp_path, **SMALL)
    tokenizer_cls = type(
        __import__("newsclf.training", fromlist=["x"]).load_tokenizer(str(tiny_bert_dir))
    )
    real_save, saves = tokenizer_cls.save_pretrained, []

    def save(self, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:
            raise RuntimeError("killed while saving")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(tokenizer_cls, "save_pretrained", save)
    with pytest.raises(RuntimeError, match="killed while saving"):
        train(cfg)
    monkeypatch.undo()
    staging = tmp_path / ".tiny.incomplete"
    best = staging / "best_model"
    epoch1 = load_file(staging / "checkpoint-6" / "model.safetensors")
    assert {k: v.tolist() for k, v in load_file(best / "model.safetensors").items()} == {
        k: v.tolist() for k, v in epoch1.items()
    }
    assert Classifier.from_pretrained(best).predict(["Stocks rally"])[0].label


def test_cli_resume_refuses_config_flags(tmp_path, capsys):
    from newsclf.cli import main

    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "--resume continues the run with its saved config.yaml; got --epochs" in err
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    assert "No interrupted run to resume" in capsys.readouterr().err
