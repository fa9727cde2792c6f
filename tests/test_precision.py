"""Training precision applied by newsclf itself (precision.TrainingPrecision), not by
Accelerate's process-wide setting: runs of different precisions in one process, autocast where
asked and only there, the fp16 gradient scaler saved and restored with the checkpoints."""

import functools
import re
import sys
from pathlib import Path

import pytest

from helpers import crash_at_batch, history_without_times, tiny_config
from newsclf import ConfigError, resume, train

ROOT = Path(__file__).resolve().parents[1]


def test_no_private_accelerate_state_is_touched():
    """Accelerate's process state is left to Accelerate: no `AcceleratorState._...` call and
    no `_reset_state` anywhere in the package."""
    private = re.compile(r"(AcceleratorState|PartialState|GradientState)\s*\.\s*_|_reset_state")
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "src").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert hits == []


def _autocast_seen(model) -> list[tuple[bool, bool, object]]:
    """(training?, autocast on?, autocast dtype) at every forward pass of `model`."""
    import torch

    seen = []

    def hook(module, args, kwargs):
        on = torch.is_autocast_enabled("cpu")
        seen.append((module.training, on, torch.get_autocast_dtype("cpu") if on else None))

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


@pytest.mark.skipif(
    not __import__("torch").backends.mkldnn.is_available(), reason="bf16 CPU kernels need oneDNN"
)
def test_fits_of_different_precisions_in_one_process_autocast_as_asked(
    tmp_path, tiny_bert_dir, tokenizer
):
    """bf16 then fp32 in one process (Accelerate alone would refuse the second): the bf16
    fit runs every training and validation forward under bf16 autocast, the fp32 fit none."""
    import torch

    from newsclf.data import load_data, tokenize
    from newsclf.training import build_model, fit

    small = dict(max_train_samples=32, max_eval_samples=16)
    for precision, expected in (("bf16", (True, torch.bfloat16)), ("fp32", (False, None))):
        cfg = tiny_config(tiny_bert_dir, tmp_path, name=precision, precision=precision, **small)
        data = load_data(cfg)
        train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
        model = build_model(cfg.model, data.label_names)
        seen = _autocast_seen(model)
        history = fit(cfg, model, tokenizer, train_set, data, tmp_path / precision)
        assert len(history.epochs) == 1
        assert {training for training, _, _ in seen} == {True, False}  # train and validation
        assert {(on, dtype) for _, on, dtype in seen} == {expected}


def test_fp16_training_on_a_cpu_is_refused_before_reading_data(tmp_path, tiny_bert_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("fp16 trains on this machine's GPU")
    cfg = tiny_config(tiny_bert_dir, tmp_path, precision="fp16")
    with pytest.raises(ConfigError, match=r"precision='fp16' on cpu.*--precision bf16 or fp32"):
        train(cfg)
    assert list(tmp_path.iterdir()) == []


def test_fp16_scaler_is_saved_and_restored_with_the_checkpoints(
    tmp_path, tiny_bert_dir, monkeypatch
):
    """fp16 with its gradient scaler, let run on the CPU for the test. The scale starts
    above what fp16 gradients hold and grows after every good step, so steps overflow (and
    are skipped) as it backs off and grows again: a resumed run that restarted its scaler
    would skip other steps, and its history would differ (checked by hand, without the
    registration)."""
    import torch

    from newsclf import precision

    monkeypatch.setattr(precision, "FP16_TRAINING_DEVICES", ("cuda", "cpu"))
    scaler = functools.partial(torch.amp.GradScaler, init_scale=2.0**24, growth_interval=1)
    monkeypatch.setattr(torch.amp, "GradScaler", scaler)
    small = dict(epochs=2, max_train_samples=96, max_eval_samples=24, max_test_samples=16)
    cfg = tiny_config(tiny_bert_dir, tmp_path / "whole", precision="fp16", **small)
    whole = history_without_times(train(cfg).run_dir)

    cfg = tiny_config(tiny_bert_dir, tmp_path, precision="fp16", save_every=4, **small)
    real_loss = crash_at_batch(monkeypatch, 11)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    (checkpoint,) = (tmp_path / ".tiny.incomplete").glob("checkpoint-*")
    saved = torch.load(checkpoint / "custom_checkpoint_0.pkl", weights_only=True)
    assert saved["scale"] != 2.0**24  # the scale moved: restoring it matters
    monkeypatch.setattr(sys.modules["newsclf.training.loop"], "batch_loss", real_loss)
    assert history_without_times(resume(tmp_path / "tiny").run_dir) == whole
