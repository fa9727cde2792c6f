"""The accuracy options (docs/accuracy.md): each computes what its paper says on known inputs,
each leaves a plain checkpoint that `transformers.pipeline` loads with newsclf's probabilities,
each bad value is one ConfigError line, and a run with a weight average resumes exactly.

Nothing here depends on what the tiny model learns."""

from __future__ import annotations

import json
import math

import pytest

from helpers import crash_at_batch, history_without_times, model_weights, tiny_config
from newsclf import ConfigError, TrainConfig, resume, train
from newsclf.cli import main

AG_NEWS = ["World", "Sports", "Business", "Sci/Tech"]
TEXTS = ["Oil prices climb as OPEC cuts output", "Federer wins his fifth Wimbledon title"]


# --- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"layer_lr_decay": 0.0}, "layer_lr_decay=0.0"),
        ({"layer_lr_decay": 1.5}, "layer_lr_decay=1.5"),
        ({"head_lr_multiplier": 0.0}, "head_lr_multiplier=0.0"),
        ({"head_lr_multiplier": 2e4}, "head_lr_multiplier=20000.0"),
        ({"lr_schedule": "step"}, "lr_schedule='step'"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"label_smoothing": float("nan")}, "label_smoothing=nan"),
        ({"rdrop_alpha": -1.0}, "rdrop_alpha=-1.0"),
        ({"multi_sample_dropout": 0}, "multi_sample_dropout=0"),
        ({"ema_decay": 1.0}, "ema_decay=1.0"),
        ({"ema_decay": -0.5}, "ema_decay=-0.5"),
        ({"swa_epochs": 3, "epochs": 2}, "swa_epochs=3"),
        ({"swa_epochs": -1}, "swa_epochs=-1"),
        ({"ema_decay": 0.99, "swa_epochs": 1, "epochs": 2}, "ema_decay=0.99 with swa_epochs=1"),
        ({"rdrop_alpha": 1.0, "multi_sample_dropout": 4}, "rdrop_alpha=1.0 with multi_sample"),
        ({"layer_lr_decay": "0.9x"}, "layer_lr_decay='0.9x'"),
    ],
)
def test_bad_values_name_the_field_the_value_and_an_example(values, fragment):
    with pytest.raises(ConfigError, match="^" + fragment.replace(".", r"\.").replace("(", r"\(")):
        TrainConfig(**values).validate()


def test_the_cli_has_a_flag_per_option_and_reports_one_line(capsys):
    assert main(["train", "--layer-lr-decay", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layer_lr_decay=0.0: expected a number in (0, 1]" in err
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--layer-lr-decay", "--head-lr-multiplier", "--lr-schedule", "--label-smoothing",
                 "--rdrop-alpha", "--multi-sample-dropout", "--ema-decay", "--swa-epochs"):  # fmt: skip
        assert flag in out


def test_defaults_leave_the_loss_the_optimizer_and_the_weights_alone(tiny_bert_dir, tmp_path):
    from newsclf.training import build_model
    from newsclf.training.averaging import weight_average
    from newsclf.training.objectives import make_objective
    from newsclf.training.optim import adamw

    cfg = tiny_config(tiny_bert_dir, tmp_path)
    model = build_model(str(tiny_bert_dir), AG_NEWS)
    assert make_objective(cfg, model) is None and weight_average(cfg, model) is None
    groups = adamw(model, cfg).param_groups
    assert [g["weight_decay"] for g in groups] == [cfg.weight_decay, 0.0]
    assert {g["lr"] for g in groups} == {cfg.learning_rate}


# --- learning rates -----------------------------------------------------------------------


def test_layer_decay_and_head_rate_give_each_part_its_rate(tiny_bert_dir, tmp_path):
    from newsclf.training import build_model
    from newsclf.training.optim import adamw

    cfg = tiny_config(
        tiny_bert_dir, tmp_path, learning_rate=1e-3, layer_lr_decay=0.5, head_lr_multiplier=4.0
    )
    model = build_model(str(tiny_bert_dir), AG_NEWS)  # 2 encoder layers
    groups = adamw(model, cfg).param_groups
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert len(rate) == len(named)  # every parameter in exactly one group
    assert sum(len(g["params"]) for g in groups) == len(named)
    expected = {"embeddings": 0.25e-3, "layer.0.": 0.5e-3, "layer.1.": 1e-3, "pooler": 4e-3,
                "classifier": 4e-3}  # fmt: skip
    for name, param in named.items():
        part = next(k for k in expected if k in name)
        assert rate[id(param)] == pytest.approx(expected[part]), name
        assert decay[id(param)] == (cfg.weight_decay if param.ndim >= 2 else 0.0), name
    assert groups[0]["lr"] == cfg.learning_rate  # history.json's rate is the top layer's


def test_head_rate_alone_keeps_the_encoder_at_the_base_rate(tiny_bert_dir, tmp_path):
    from newsclf.training import build_model
    from newsclf.training.optim import adamw

    cfg = tiny_config(tiny_bert_dir, tmp_path, learning_rate=1e-4, head_lr_multiplier=10.0)
    model = build_model(str(tiny_bert_dir), AG_NEWS)
    rate = {id(p): g["lr"] for g in adamw(model, cfg).param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        head = name.startswith(("classifier", "bert.pooler"))
        assert rate[id(param)] == pytest.approx(1e-3 if head else 1e-4), name


@pytest.mark.parametrize(
    ("schedule", "middle", "end"), [("linear", 0.5, 0.0), ("cosine", 0.5, 0.0), ("constant", 1, 1)]
)
def test_schedule_shapes_after_warmup(tiny_bert_dir, tmp_path, schedule, middle, end):
    import torch

    from newsclf.training.optim import linear_schedule

    cfg = tiny_config(tiny_bert_dir, tmp_path, epochs=1, warmup_ratio=0.0, lr_schedule=schedule)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_schedule(optimizer, cfg, batches=100)
    rates = []
    for _ in range(100):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1.0)
    assert rates[50] == pytest.approx(middle)
    assert scheduler.get_last_lr()[0] == pytest.approx(end)


# --- losses on known logits ---------------------------------------------------------------


def _log_softmax(row):
    top = max(row)
    total = sum(math.exp(x - top) for x in row)
    return [x - top - math.log(total) for x in row]


LOGITS_A = [[2.0, -1.0, 0.5, 0.0], [0.1, 0.2, 3.0, -2.0], [-1.0, 1.0, 0.0, 0.5]]
LOGITS_B = [[1.5, -0.5, 0.0, 0.2], [0.0, 0.0, 2.0, -1.0], [-0.5, 2.0, 0.3, 0.1]]
LABELS = [0, 2, 3]


def _ce(logits, labels, smoothing=0.0):
    """Cross-entropy with label smoothing, by the formula: (1 - e) NLL + e x mean(-log p)."""
    rows = []
    for row, y in zip(logits, labels, strict=True):
        logp = _log_softmax(row)
        rows.append(-(1 - smoothing) * logp[y] - smoothing * sum(logp) / len(logp))
    return sum(rows) / len(rows)


def _symmetric_kl(a, b):
    rows = []
    for ra, rb in zip(a, b, strict=True):
        la, lb = _log_softmax(ra), _log_softmax(rb)
        kl_ab = sum(math.exp(x) * (x - y) for x, y in zip(la, lb, strict=True))
        kl_ba = sum(math.exp(y) * (y - x) for x, y in zip(la, lb, strict=True))
        rows.append((kl_ab + kl_ba) / 2)
    return sum(rows) / len(rows)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothed_loss_is_the_formula(smoothing):
    import torch

    from newsclf.training.objectives import cross_entropy

    loss = cross_entropy(torch.tensor(LOGITS_A), torch.tensor(LABELS), None, smoothing)
    assert loss.item() == pytest.approx(_ce(LOGITS_A, LABELS, smoothing), rel=1e-6)


def test_rdrop_loss_is_mean_cross_entropy_plus_alpha_symmetric_kl():
    import torch

    from newsclf.training.objectives import rdrop_loss, symmetric_kl

    a, b, y = torch.tensor(LOGITS_A), torch.tensor(LOGITS_B), torch.tensor(LABELS)
    assert symmetric_kl(a, b).item() == pytest.approx(_symmetric_kl(LOGITS_A, LOGITS_B), rel=1e-5)
    assert symmetric_kl(a, a).item() == pytest.approx(0.0, abs=1e-7)
    expected = (_ce(LOGITS_A, LABELS, 0.1) + _ce(LOGITS_B, LABELS, 0.1)) / 2
    expected += 2.5 * _symmetric_kl(LOGITS_A, LOGITS_B)
    assert rdrop_loss(a, b, y, 2.5, None, 0.1).item() == pytest.approx(expected, rel=1e-5)


def test_rdrop_batch_runs_each_row_twice_with_different_dropout(tiny_bert_dir, tmp_path):
    """The two halves of the doubled batch are the same rows with their own dropout masks: in
    eval mode (no dropout) the R-Drop loss is exactly the plain cross-entropy."""
    import torch

    from newsclf.precision import TrainingPrecision
    from newsclf.training import build_model
    from newsclf.training.objectives import make_objective

    model = build_model(str(tiny_bert_dir), AG_NEWS)
    objective = make_objective(tiny_config(tiny_bert_dir, tmp_path, rdrop_alpha=1.0), model)
    batch = {
        "input_ids": torch.tensor([[101, 2054, 2003, 102], [101, 7592, 102, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
    }
    labels = torch.tensor([1, 3])
    fp32 = TrainingPrecision("cpu")
    model.eval()
    plain = model(**batch, labels=labels).loss
    assert objective(model, {**batch, "labels": labels}, None, fp32).item() == pytest.approx(
        plain.item(), rel=1e-6
    )
    model.train()
    torch.manual_seed(0)
    assert objective(model, {**batch, "labels": labels}, None, fp32).item() > 0


def test_multi_sample_dropout_averages_the_losses_of_its_draws(tiny_bert_dir, tmp_path):
    """k draws of the head's dropout over the same features: the loss is their mean; with the
    dropout off (p=0) every draw is the plain forward, so the loss equals the plain one."""
    import torch

    from newsclf.precision import TrainingPrecision
    from newsclf.training import build_model
    from newsclf.training.objectives import make_objective

    model = build_model(str(tiny_bert_dir), AG_NEWS)
    cfg = tiny_config(tiny_bert_dir, tmp_path, multi_sample_dropout=5)
    objective = make_objective(cfg, model)
    batch = {"input_ids": torch.tensor([[101, 2054, 2003, 102]]), "attention_mask": None}
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    labels = torch.tensor([2])
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    plain = model(**batch, labels=labels).loss
    loss = objective(model, {**batch, "labels": labels}, None, TrainingPrecision("cpu"))
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)
    model.dropout.p = 0.5  # now each draw differs, and the loss is their mean
    torch.manual_seed(1)
    draws = []
    real = objective.head.resample

    def spy(n):
        draws.append(n)
        return real(n)

    objective.head.resample = spy
    objective(model, {**batch, "labels": labels}, None, TrainingPrecision("cpu"))
    assert draws == [4]


def test_multi_sample_dropout_refuses_a_head_it_cannot_resample(tmp_path, tiny_bert_dir):
    import torch

    from newsclf.training.objectives import make_objective

    cfg = tiny_config(tiny_bert_dir, tmp_path, multi_sample_dropout=2)
    with pytest.raises(ConfigError, match="multi_sample_dropout.*expected multi_sample_dropout=1"):
        make_objective(cfg, torch.nn.Linear(2, 2))


# --- weight averages ----------------------------------------------------------------------


def test_ema_is_the_bias_corrected_exponential_average_of_the_weights():
    import torch

    from newsclf.training.averaging import WeightAverage

    param = torch.nn.Parameter(torch.zeros(3))
    average = WeightAverage([param], ema_decay=0.9)
    seen = [torch.tensor([1.0, 2.0, -1.0]), torch.tensor([3.0, 0.0, 1.0]),
            torch.tensor([-2.0, 5.0, 0.5]), torch.tensor([0.0, 1.0, 4.0])]  # fmt: skip
    for value in seen:
        with torch.no_grad():
            param.copy_(value)
        average.update(epoch=1)
    n, d = len(seen), 0.9
    expected = sum((1 - d) * d ** (n - 1 - t) * seen[t] for t in range(n)) / (1 - d**n)
    assert torch.allclose(average.average[0], expected, atol=1e-6)
    with average.in_model():
        assert torch.allclose(param, expected, atol=1e-6)
    assert torch.equal(param, seen[-1])  # the weights are back, bit for bit


def test_swa_is_the_mean_of_the_weights_in_its_epochs():
    import torch

    from newsclf.training.averaging import WeightAverage

    param = torch.nn.Parameter(torch.zeros(2))
    average = WeightAverage([param], first_epoch=2)
    with average.in_model():  # nothing averaged yet: the weights themselves
        assert torch.equal(param, torch.zeros(2))
    for epoch, value in [(1, [9.0, 9.0]), (2, [1.0, 2.0]), (2, [3.0, 0.0]), (3, [2.0, 4.0])]:
        with torch.no_grad():
            param.copy_(torch.tensor(value))
        average.update(epoch)
    assert torch.allclose(average.average[0], torch.tensor([2.0, 2.0]))
    state = average.state_dict()
    again = WeightAverage([param], first_epoch=2)
    again.load_state_dict(state)
    assert again.count == 3 and torch.equal(again.average[0], average.average[0])


# --- whole runs ---------------------------------------------------------------------------

OPTIONS = {
    "llrd_head": dict(layer_lr_decay=0.8, head_lr_multiplier=5.0),
    "cosine": dict(lr_schedule="cosine"),
    "label_smoothing": dict(label_smoothing=0.1),
    "rdrop": dict(rdrop_alpha=1.0),
    "multi_sample_dropout": dict(multi_sample_dropout=4),
    "ema": dict(ema_decay=0.9),
    "swa": dict(swa_epochs=1),
}
SMALL = dict(epochs=2, max_train_samples=64, max_eval_samples=24, max_test_samples=16)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_a_run_with_each_option_saves_a_plain_checkpoint(tmp_path, tiny_bert_dir, option):
    """transformers.pipeline loads the saved model with no newsclf code and gives newsclf's
    probabilities."""
    from transformers import pipeline

    from newsclf import Classifier

    result = train(tiny_config(tiny_bert_dir, tmp_path, **SMALL, **OPTIONS[option]))
    best = str(result.run_dir / "best_model")
    config = json.loads((result.run_dir / "best_model" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    pipe = pipeline("text-classification", model=best, device="cpu", top_k=None)
    ours = Classifier.from_pretrained(best).predict(TEXTS)
    for theirs, mine in zip(pipe(TEXTS), ours, strict=True):
        assert {r["label"] for r in theirs} == set(AG_NEWS)
        for row in theirs:
            assert row["score"] == pytest.approx(mine.probabilities[row["label"]], abs=1e-5)


def test_the_saved_model_is_the_average_when_averaging(tmp_path, tiny_bert_dir, monkeypatch):
    """With an EMA, the validated and saved weights are the average, not the last weights."""
    import torch

    from newsclf.training import averaging

    saved = {}
    real = averaging.WeightAverage.in_model

    def spy(self):
        saved["average"] = [a.clone() for a in self.average]
        return real(self)

    monkeypatch.setattr(averaging.WeightAverage, "in_model", spy)
    # Without calibration: a temperature folded into the head would change the saved weights.
    cfg = tiny_config(
        tiny_bert_dir, tmp_path, **{**SMALL, "epochs": 1}, ema_decay=0.9, calibration="none"
    )
    result = train(cfg)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "best_model")
    params = [p for p in model.parameters() if p.requires_grad]
    assert len(params) == len(saved["average"])
    for param, average in zip(params, saved["average"], strict=True):
        assert torch.equal(param, average)


@pytest.mark.parametrize(
    "options", [dict(ema_decay=0.9, rdrop_alpha=1.0), dict(swa_epochs=1, layer_lr_decay=0.8)]
)
def test_resume_with_a_weight_average_equals_the_uninterrupted_run(
    tmp_path, tiny_bert_dir, monkeypatch, options
):
    import torch

    small = dict(epochs=2, max_train_samples=96, max_eval_samples=24, max_test_samples=16)
    whole = train(tiny_config(tiny_bert_dir, tmp_path / "whole", **small, **options))
    cfg = tiny_config(tiny_bert_dir, tmp_path / "crashed", save_every=4, **small, **options)
    crash_at_batch(monkeypatch, 11)  # the 11th batch of 12 (mid-epoch 2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    resumed = resume(tmp_path / "crashed" / "tiny")
    assert history_without_times(resumed.run_dir) == history_without_times(whole.run_dir)
    theirs, ours = (
        model_weights(whole.run_dir / "best_model"),
        model_weights(resumed.run_dir / "best_model"),
    )
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
