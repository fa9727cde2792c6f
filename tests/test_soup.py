"""Model soup (`--soup N`): members trained from one start with their own seeds, their best
weights averaged into one plain checkpoint; an interrupted soup resumes inside its member.

Nothing here depends on what the tiny model learns."""

import json
import sys

import pytest

from helpers import crash_at_batch, history_without_times, model_weights, tiny_config
from newsclf.config import TrainConfig
from newsclf.errors import ConfigError
from newsclf.training import resume, train
from newsclf.training import soup as soup_module

SMALL = dict(epochs=2, max_train_samples=64, max_eval_samples=24, max_test_samples=16)
TEXTS = ["Stocks fell as oil prices rose.", "The team won the final in extra time."]


@pytest.mark.parametrize(
    "values, fragment",
    [
        (dict(soup=0), "soup=0: expected a whole number from 1 to 16"),
        (dict(soup=17), "soup=17: expected a whole number from 1 to 16"),
        (dict(soup=2, report_to=["tensorboard"]), "soup=2 with report_to=['tensorboard']"),
    ],
)
def test_bad_soups_are_refused_in_one_line(values, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        TrainConfig(**values).validate()


def test_a_search_refuses_a_soup(tmp_path, tiny_bert_dir):
    from newsclf.search.space import check_space, default_space

    base = tiny_config(tiny_bert_dir, tmp_path, soup=2)
    with pytest.raises(ConfigError, match="soup=2: a search prunes trials"):
        check_space(default_space("single-label"), base)
    space = {"soup": {"type": "int", "low": 1, "high": 4}}
    with pytest.raises(ConfigError, match=r"soup=1 \(searched\)"):
        check_space(space, tiny_config(tiny_bert_dir, tmp_path))


def test_the_soup_is_the_mean_of_its_members_best_weights(tmp_path, tiny_bert_dir, monkeypatch):
    """The saved model averages the members' best weights; the members differ (own seeds); the
    run keeps their histories and drops their weights and every checkpoint; the model loads
    in a plain pipeline with newsclf's probabilities; the report draws every member."""
    import torch
    from transformers import pipeline

    from newsclf import Classifier

    members = {}
    real = soup_module._validate_and_save

    def spy(engine, seeds, histories, task):
        for m in range(1, len(seeds) + 1):
            members[m] = model_weights(engine.run_dir / "members" / str(m) / "best_model")
        return real(engine, seeds, histories, task)

    monkeypatch.setattr(soup_module, "_validate_and_save", spy)
    # Without calibration, which would rescale the averaged output layer after the soup.
    cfg = tiny_config(tiny_bert_dir, tmp_path, **SMALL, soup=2, visuals=True, calibration="none")
    result = train(cfg)

    run = result.run_dir
    saved = model_weights(run / "best_model")
    assert saved.keys() == members[1].keys() == members[2].keys()
    assert not all(torch.equal(members[1][k], members[2][k]) for k in saved)
    for key, value in saved.items():
        assert torch.allclose(value, (members[1][key] + members[2][key]) / 2, atol=1e-7)

    history = json.loads((run / "history.json").read_text())
    assert [(r["member"], r["epoch"]) for r in history["epochs"]] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
    ]
    assert history["soup"]["seeds"] == [cfg.seed, cfg.seed + 1000]
    assert (
        history["best_epoch"] == 0 and result.best_val_accuracy == history["soup"]["val_accuracy"]
    )
    for m in (1, 2):
        member = run / "members" / str(m)
        assert json.loads((member / "member.json").read_text()) == {"seed": cfg.seed + 1000 * (m - 1),
                                                                     "member": m}  # fmt: skip
        assert (member / "history.json").is_file() and not (member / "best_model").exists()
    assert not list(run.rglob("checkpoint-*"))
    assert (run / "training_progress.png").is_file() and (run / "report.html").is_file()
    assert "soup of 2" in (run / "report.html").read_text()

    pipe = pipeline("text-classification", model=str(run / "best_model"), device="cpu", top_k=None)
    ours = Classifier.from_pretrained(run / "best_model").predict(TEXTS)
    for theirs, mine in zip(pipe(TEXTS), ours, strict=True):
        for row in theirs:
            assert row["score"] == pytest.approx(mine.probabilities[row["label"]], abs=1e-5)


def test_an_interrupted_soup_resumes_in_its_member(tmp_path, tiny_bert_dir, monkeypatch):
    """Killed in member 2, the soup resumes there from its checkpoint (member 1 is not trained
    again) and ends as the uninterrupted soup: the same history and weights."""
    import torch

    whole = train(tiny_config(tiny_bert_dir, tmp_path / "whole", **SMALL, soup=2))
    cfg = tiny_config(tiny_bert_dir, tmp_path / "crashed", **SMALL, soup=2, save_every=2)
    # Each member has 2 epochs of 4 batches: batch 11 is member 2's third, after its
    # checkpoint at step 2.
    crash_at_batch(monkeypatch, 11)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    trained, real = [], sys.modules["newsclf.training.loop"].batch_loss
    monkeypatch.setattr(
        "newsclf.training.loop.batch_loss", lambda *a, **k: trained.append(1) or real(*a, **k)
    )
    resumed = resume(tmp_path / "crashed" / "tiny")
    assert len(trained) == 6  # member 2's batches after its checkpoint, and nothing of member 1
    assert history_without_times(resumed.run_dir) == history_without_times(whole.run_dir)
    theirs, ours = (
        model_weights(whole.run_dir / "best_model"),
        model_weights(resumed.run_dir / "best_model"),
    )
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)


def test_a_multi_label_soup_keeps_its_thresholds_and_pictures(tmp_path, tiny_bert_dir):
    """Multi-label: the soup's thresholds are tuned on validation for the soup itself, saved
    in its config.json and thresholds.json, and the pictures and report are written."""
    from test_multilabel import tagged_rows, write_shapes

    write_shapes(tmp_path, tagged_rows(120))
    cfg = tiny_config(
        tiny_bert_dir, tmp_path / "runs", data=str(tmp_path / "joined.csv"), epochs=1, soup=2,
        max_train_samples=None, max_eval_samples=None, max_test_samples=None, visuals=True,
    )  # fmt: skip
    run = train(cfg).run_dir
    history = json.loads((run / "history.json").read_text())
    soup = history["soup"]
    assert history["task"] == "multi-label" and set(soup["val_metrics"]) >= {"micro_f1"}
    config = json.loads((run / "best_model" / "config.json").read_text())
    saved = json.loads((run / "thresholds.json").read_text())
    assert saved["thresholds"] == config["newsclf_thresholds"]
    assert "the soup of 2 members" in (run / "best_model" / "README.md").read_text()
    assert {"training_progress.png", "threshold_curve.png", "report.html"} <= {
        p.name for p in run.iterdir()
    }


def test_a_soup_interrupted_after_it_was_saved_resumes_without_training(
    tmp_path, tiny_bert_dir, monkeypatch
):
    """Killed while scoring the test split (the soup saved, the members' weights gone), the
    run resumes straight to the test with the saved soup."""
    from newsclf.training import run as run_module

    cfg = tiny_config(tiny_bert_dir, tmp_path, **SMALL, soup=2)
    real = run_module.evaluate_best_model

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("injected crash")

    monkeypatch.setattr(run_module, "evaluate_best_model", killed)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    staging = tmp_path / ".tiny.incomplete"
    saved = model_weights(staging / "best_model")
    assert not (staging / "members" / "1" / "best_model").exists()
    monkeypatch.setattr(run_module, "evaluate_best_model", real)
    crash_at_batch(monkeypatch, 1)  # any training step now would fail the test
    result = resume(tmp_path / "tiny")
    ours = model_weights(result.run_dir / "best_model")
    assert ours.keys() == saved.keys() and all((ours[k] == saved[k]).all() for k in ours)
    assert result.test_metrics["num_samples"] == 16
