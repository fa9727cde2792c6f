"""The recipe `auto` chooses (newsclf.training.recipe): the budget for given rows and classes,
the max length for known token counts, the evaluation points, early stopping on a known
validation sequence, and runs with `auto` that repeat from their saved config and resume.

Nothing here depends on what a model learns: the rules are pure functions of their inputs,
and the runs are compared with runs of the same config."""

import json
import math

import pytest
import yaml

from helpers import crash_at_batch, history_without_times, model_weights, tiny_config
from newsclf import ConfigError, TrainConfig, resume, train
from newsclf.cli import main
from newsclf.training import recipe
from newsclf.training.engine import eval_points
from newsclf.training.guardrails import early_stop
from newsclf.training.history import EpochRow, History
from synthetic import make_data

# --- the budget ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "classes", "batch", "epochs"),
    [
        (4_500, 4, 32, 4),  # 141 steps an epoch: the 500-step floor needs 4 epochs
        (9_003, 77, 32, 9),  # 77 classes: each seen 1,000 times needs 8.55 epochs
        (6_950, 90, 32, 13),  # 90 tags: 12.9 epochs
        (120_000, 4, 32, 3),  # large data: the 3-epoch minimum
        (528, 3, 32, 20),  # small data: the 20-epoch ceiling (500 steps would be 30)
        (700, 2, 8, 6),  # a smaller batch: 88 steps an epoch, 500 steps in 6 epochs
    ],
)
def test_the_budget_follows_rows_classes_and_batch(rows, classes, batch, epochs):
    budget = recipe.choose_budget(rows, classes, batch)
    per_epoch = math.ceil(rows / batch)
    assert (budget.epochs, budget.steps_per_epoch) == (epochs, per_epoch)
    assert budget.epochs * per_epoch >= min(recipe.STEP_FLOOR, recipe.MAX_EPOCHS * per_epoch)
    assert budget.epochs * rows >= min(recipe.SEEN_PER_CLASS * classes, recipe.MAX_EPOCHS * rows)


@pytest.mark.parametrize(
    ("epochs_rows", "eval_every", "evaluations", "patience"),
    [
        ((4_500, 4), 0.2, 20, 10),  # 4 epochs: 5 evaluations each; patience: half of them
        ((9_003, 77), 0.3333, 27, 14),  # 9 epochs: 3 each
        ((528, 3), 1.0, 20, 10),  # 20 epochs: at each end
        ((120_000, 4), 0.1429, 21, 11),  # 3 epochs: 7 each
    ],
)
def test_evaluations_and_patience_follow_the_budget(epochs_rows, eval_every, evaluations, patience):
    budget = recipe.choose_budget(*epochs_rows, 32)
    assert budget.eval_every == eval_every
    assert round(budget.epochs / budget.eval_every) == evaluations
    assert budget.patience == patience


def test_a_tiny_epoch_is_never_split_finer_than_its_steps():
    budget = recipe.choose_budget(rows=64, classes=2, batch=32)  # 2 steps an epoch
    assert budget.epochs == 20 and budget.eval_every == 1.0


# --- the max length -----------------------------------------------------------------------


def test_max_length_is_the_95th_percentile_rounded_up_to_32():
    lengths = list(range(1, 101))  # the 95th percentile is 95 (method "higher")
    assert recipe.choose_max_length(lengths, limit=512) == 96
    assert recipe.choose_max_length(lengths, limit=64) == 64  # the cap
    assert recipe.share_cut(lengths, 96) == pytest.approx(0.04)


def test_max_length_is_never_more_than_the_texts_need():
    assert recipe.choose_max_length([10] * 50 + [12], limit=512) == 16  # longest 12, up to 8
    assert recipe.choose_max_length([], limit=512) == 32


def test_the_limit_is_the_smallest_of_positions_tokenizer_and_512(tokenizer):
    assert recipe.model_length_limit(tokenizer, positions=128) == 128
    assert recipe.model_length_limit(tokenizer, positions=None) == min(
        512, tokenizer.model_max_length
    )


def test_token_lengths_count_the_special_tokens(tokenizer):
    assert recipe.token_lengths(["hello world", "hello"], tokenizer) == [4, 3]


# --- evaluations inside an epoch and early stopping ---------------------------------------


@pytest.mark.parametrize(
    ("share", "steps", "points"),
    [
        (1.0, 100, set()),
        ("auto", 100, set()),  # a config not resolved by a run: each epoch's end only
        (0.5, 10, {5}),
        (0.3, 100, {30, 60}),  # 90 is within half an interval of the end
        (0.2, 141, {28, 56, 85, 113}),
        (0.5, 1, set()),  # a one-step epoch: its end only
        (0.25, 2, {1}),  # points that round to the same step count once
    ],
)
def test_evaluation_points_inside_an_epoch(share, steps, points):
    assert eval_points(share, steps) == points


def _history(scores: list[float], epochs: list[float]) -> History:
    history = History()
    best = -1.0
    for epoch, score in zip(epochs, scores, strict=True):
        history.epochs.append(EpochRow(epoch, 0.1, 0.1, score, score, 1e-4, 1, 0.0, 0.0))
        if score > best:
            best, history.best_epoch = score, epoch
    return history


@pytest.mark.parametrize(
    ("scores", "patience", "stops_after"),
    [
        ([0.5, 0.6, 0.6, 0.59, 0.7, 0.6, 0.6, 0.6], 3, 8),  # a tie is not a gain
        ([0.5, 0.6, 0.6, 0.59, 0.7, 0.6, 0.6, 0.6], 4, None),
        ([0.9, 0.1, 0.1], 2, 3),
        ([0.1, 0.2, 0.3, 0.4], 1, None),
    ],
)
def test_early_stopping_counts_evaluations_without_a_better_score(scores, patience, stops_after):
    cfg = TrainConfig(epochs=4, patience=patience)
    epochs = [round(0.5 * (i + 1), 4) for i in range(len(scores))]  # two evaluations an epoch
    stopped = [
        n for n in range(1, len(scores) + 1) if early_stop(cfg, _history(scores[:n], epochs[:n]))
    ]
    assert (stopped[0] if stopped else None) == stops_after


# --- the config -----------------------------------------------------------------------------


def test_auto_is_the_default_and_numbers_still_work():
    cfg = TrainConfig().validate()
    assert (cfg.epochs, cfg.max_length, cfg.eval_every) == ("auto", "auto", "auto")
    cfg = TrainConfig.from_dict({"epochs": "3", "max_length": 64.0, "eval_every": "0.5"})
    assert (cfg.epochs, cfg.max_length, cfg.eval_every) == (3, 64, 0.5)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "many"}, "epochs='many': expected a whole number >= 1, or 'auto'"),
        ({"epochs": 0}, "epochs=0: expected a whole number >= 1"),
        ({"max_length": "long"}, "max_length='long'"),
        ({"eval_every": 0}, "eval_every=0.0: expected a share of an epoch from 0.01 to 1"),
        ({"eval_every": 2.0}, "eval_every=2.0"),
        ({"swa_epochs": 1}, "Pass --epochs N as well"),
    ],
)
def test_the_recipe_fields_refuse_what_they_cannot_use(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.from_dict(values)


def test_the_cli_takes_auto_or_a_number(monkeypatch):
    seen = {}
    monkeypatch.setattr("newsclf.training.train", lambda cfg: seen.setdefault("cfg", cfg))
    main(["train", "--epochs", "3", "--max-length", "auto", "--eval-every", "0.25"])
    assert (seen["cfg"].epochs, seen["cfg"].max_length, seen["cfg"].eval_every) == (3, "auto", 0.25)


def test_fit_refuses_an_unresolved_config(tmp_path, tiny_bert_dir):
    from newsclf import fit
    from newsclf.training.engine import require_resolved

    with pytest.raises(ConfigError, match="newsclf.train"):
        require_resolved(TrainConfig())
    assert fit is not None


def test_few_rows_in_a_class_are_said_before_training():
    data = make_data(n_train=80)
    assert recipe.small_data_warning(data) is None  # 20 rows a class
    few = make_data(n_train=24)  # 6 rows a class
    warning = recipe.small_data_warning(few)
    assert warning.startswith("very little data: 4 of 4 classes have fewer than 10 training")
    assert "fewest 6" in warning and "add labelled rows" in warning


# --- runs with auto -----------------------------------------------------------------------

AUTO_RUN = dict(epochs="auto", max_length="auto", max_train_samples=48, max_eval_samples=24)


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory, tiny_bert_dir):
    out = tmp_path_factory.mktemp("auto")
    result = train(tiny_config(tiny_bert_dir, out, eval_every="auto", **AUTO_RUN))
    return result.run_dir


def test_auto_is_resolved_into_the_saved_config_and_said(auto_run):
    saved = yaml.safe_load((auto_run / "config.yaml").read_text())
    budget = recipe.choose_budget(rows=48, classes=4, batch=16)  # 3 steps an epoch
    assert saved["epochs"] == budget.epochs == 20
    assert saved["eval_every"] == budget.eval_every
    assert saved["patience"] == budget.patience
    assert isinstance(saved["max_length"], int) and 8 <= saved["max_length"] <= 128
    notes = json.loads((auto_run / "data.json").read_text())["notes"]
    said = [n for n in notes if n.startswith("recipe: ")]
    assert len(said) == 1 and f"{budget.epochs} epochs = {20 * 3} steps of 16" in said[0]
    assert f"max length {saved['max_length']} tokens" in said[0]


def test_the_saved_config_repeats_the_run_exactly(auto_run, tmp_path):
    cfg = TrainConfig.from_yaml(auto_run / "config.yaml", output_dir=str(tmp_path))
    again = train(cfg).run_dir
    assert history_without_times(again) == history_without_times(auto_run)
    first, second = model_weights(auto_run / "best_model"), model_weights(again / "best_model")
    assert all((first[k] == second[k]).all() for k in first)


def test_explicit_epochs_validate_at_each_epoch_end_without_early_stopping(tmp_path, tiny_bert_dir):
    run = train(tiny_config(tiny_bert_dir, tmp_path, epochs=2, max_length=32, max_train_samples=48))
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert (saved["epochs"], saved["eval_every"], saved["patience"]) == (2, 1.0, None)
    assert [row["epoch"] for row in run.history] == [1, 2]
    notes = json.loads((run.run_dir / "data.json").read_text())["notes"]
    assert not [n for n in notes if n.startswith("recipe: ")]


def test_evaluations_inside_epochs_are_rows_of_the_history(tmp_path, tiny_bert_dir):
    run = train(tiny_config(tiny_bert_dir, tmp_path, epochs=2, eval_every=0.5,
                            max_train_samples=96))  # fmt: skip
    rows = run.history  # 96 rows of batch 16: 6 steps an epoch, validated at 3 and 6
    assert [(r["epoch"], r["steps"]) for r in rows] == [(0.5, 3), (1, 3), (1.5, 3), (2, 3)]
    assert run.best_epoch in [0.5, 1, 1.5, 2]


def test_crash_then_resume_with_auto_gives_the_uninterrupted_history(
    tmp_path, tiny_bert_dir, monkeypatch, auto_run
):
    """The resumed run reads the resolved config.yaml: no `auto` is chosen twice."""
    cfg = tiny_config(tiny_bert_dir, tmp_path, eval_every="auto", save_every=4, **AUTO_RUN)
    crash_at_batch(monkeypatch, 11)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    resumed = resume(tmp_path / "tiny").run_dir
    assert history_without_times(resumed) == history_without_times(auto_run)


def test_few_rows_of_a_tag_are_said_for_multi_label_data():
    from datasets import Dataset, DatasetDict

    from newsclf.data import LoadedData

    rows = [[1, 0, 1]] * 12 + [[0, 1, 1]] * 3  # tag b: on 3 rows
    split = Dataset.from_dict({"text": ["t"] * len(rows), "label": rows})
    data = LoadedData(
        splits=DatasetDict(train=split, validation=split, test=split),
        label_names=["a", "b", "c"], source="synthetic", task="multi-label",
    )  # fmt: skip
    warning = recipe.small_data_warning(data)
    assert warning.startswith("very little data: 1 of 3 classes have fewer than 10")
    assert "fewest 3: b)" in warning
