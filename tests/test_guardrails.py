"""Guardrails: a diverged loss, early stopping, gradient accumulation, class weights, OOM.

Each input is built so the right answer is known: a loss forced to NaN at a chosen batch,
scripted validation scores, a model without dropout whose accumulated gradients must equal
the big batch's, class counts with known weights."""

import json
import sys

import pytest

from helpers import save_tiny, tiny_bert_config, tiny_config
from newsclf import TrainingError, train

SMALL = dict(max_train_samples=96, max_eval_samples=24, max_test_samples=16)


def _train_module():
    return sys.modules["newsclf.training.loop"]


def test_nan_loss_stops_naming_the_step_and_learning_rate(tmp_path, tiny_bert_dir, monkeypatch):
    import torch

    module = _train_module()
    real, calls = module.batch_loss, []

    def loss(*args, **kwargs):
        calls.append(1)
        value = real(*args, **kwargs)
        return value * torch.nan if len(calls) == 5 else value

    monkeypatch.setattr(module, "batch_loss", loss)
    with pytest.raises(TrainingError) as err:
        train(tiny_config(tiny_bert_dir, tmp_path, save_every=2, keep_checkpoints=3, **SMALL))
    message = str(err.value)
    assert "loss became nan at optimizer step 5 (epoch 1)" in message
    assert "learning rate" in message and "--learning-rate" in message
    staging = tmp_path / ".tiny.incomplete"
    assert f"last good checkpoint is {staging / 'checkpoint-4'}" in message
    # Checked before each save: the diverged step 6 was never checkpointed.
    assert sorted(p.name for p in staging.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_early_stopping_stops_after_patience_epochs_without_improvement(
    tmp_path, tiny_bert_dir, monkeypatch, capsys
):
    module = _train_module()
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.9, 0.9])
    real = module.validate
    monkeypatch.setattr(
        module, "validate", lambda e: (real(e)[0], {"accuracy": next(scores), "macro_f1": 0.1})
    )
    result = train(tiny_config(tiny_bert_dir, tmp_path, epochs=6, patience=2, **SMALL))
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == 2
    said = "Early stopping: no better validation accuracy for 2 evaluation(s) (--patience 2)"
    assert said in capsys.readouterr().out


@pytest.fixture(scope="module")
def no_dropout_bert_dir(tmp_path_factory, tokenizer):
    from transformers import BertModel

    config = tiny_bert_config(tokenizer, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return save_tiny(BertModel, config, tokenizer, tmp_path_factory.mktemp("no-dropout"))


def test_grad_accum_2_x_batch_16_matches_batch_32(tmp_path, no_dropout_bert_dir):
    """Without dropout and with the same shuffled order (no length grouping: batch 32 is
    then exactly two batches of 16), the updates agree up to float rounding: the two
    batches are padded to different widths and summed in another order."""
    import torch
    from safetensors.torch import load_file

    common = dict(group_by_length=False, epochs=1, max_train_samples=128, warmup_ratio=0.0)
    common.update(max_eval_samples=16, max_test_samples=16)
    big = train(tiny_config(no_dropout_bert_dir, tmp_path, name="big", batch_size=32, **common))
    accumulated = train(
        tiny_config(
            no_dropout_bert_dir, tmp_path, name="acc", batch_size=16, grad_accum=2, **common
        )
    )
    assert [r["steps"] for r in big.history] == [r["steps"] for r in accumulated.history] == [4]
    assert big.history[0]["train_loss"] == pytest.approx(accumulated.history[0]["train_loss"])
    a = load_file(big.run_dir / "best_model" / "model.safetensors")
    b = load_file(accumulated.run_dir / "best_model" / "model.safetensors")
    start = load_file(no_dropout_bert_dir / "model.safetensors")
    moved = a["bert.encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(moved, start["encoder.layer.0.attention.self.query.weight"])
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_balanced_class_weights_follow_the_rule():
    from newsclf.training.optim import balanced_class_weights

    # 40 rows, 2 classes: 40 / (2 x 30) and 40 / (2 x 10); an absent class weighs nothing.
    assert balanced_class_weights([0] * 30 + [1] * 10, 2) == pytest.approx([2 / 3, 2.0])
    assert balanced_class_weights([0, 0, 2, 2], 3) == [4 / 6, 0.0, 4 / 6]


def test_weighted_loss_weighs_each_row_by_its_class():
    import torch

    from newsclf.training.optim import batch_loss

    class Model:
        def __call__(self, **batch):
            assert "labels" not in batch
            return type("Out", (), {"logits": torch.tensor([[0.0, 0.0], [0.0, 0.0]])})()

    # Both rows cost ln 2; weighted mean = (1 x ln2 + 3 x ln2) / (1 + 3) = ln 2.
    weights = torch.tensor([1.0, 3.0])
    loss = batch_loss(Model(), {"labels": torch.tensor([0, 1])}, weights)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    # One row of each class but logits favouring class 0: the class-1 row's larger loss
    # counts 3 times as much as without weights.
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    Model.__call__ = lambda self, **b: type("Out", (), {"logits": logits})()
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]), reduction="none")
    expected = (ce[0] * 1 + ce[1] * 3) / 4
    assert batch_loss(Model(), {"labels": torch.tensor([0, 1])}, weights).item() == pytest.approx(
        expected.item()
    )


def test_class_weights_run_end_to_end(tmp_path, tiny_bert_dir):
    result = train(tiny_config(tiny_bert_dir, tmp_path, class_weights="balanced", **SMALL))
    config = json.loads((result.run_dir / "best_model" / "config.json").read_text())
    assert len(config["id2label"]) == 4


def test_cuda_out_of_memory_names_the_batch_size_and_what_to_try(
    tmp_path, tiny_bert_dir, monkeypatch
):
    import torch

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(_train_module(), "batch_loss", oom)
    with pytest.raises(TrainingError, match=r"at batch size 16 .*--batch-size 8 --grad-accum 2"):
        train(tiny_config(tiny_bert_dir, tmp_path, **SMALL))
    assert list(tmp_path.iterdir()) == []  # nothing to resume from: nothing kept
