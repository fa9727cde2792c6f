"""`newsclf audit`: confident learning on given probabilities (the joint and the ranking worked
out by hand), duplicates within and across splits, the files the audit writes, and training's
count of test rows that also occur in train."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from helpers import CLASS_WORDS, synthetic_rows, write_csv
from newsclf import TrainConfig

# Two classes, four rows each; row 3 (labelled 0) and row 7 (labelled 1) are planted errors.
# Thresholds: t0 = mean(.9, .8, .9, .1) = .675 and t1 = mean(.9, .7, .9, .2) = .675, so the
# confident joint counts rows 0-2 as (0, 0), row 3 as (0, 1), rows 4-6 as (1, 1), row 7 as
# (1, 0): [[3, 1], [1, 3]], already calibrated (4 rows per label, 8 in all).
P0 = [0.9, 0.8, 0.9, 0.1, 0.1, 0.3, 0.1, 0.8]
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]


def probs(p0: list[float]) -> np.ndarray:
    p = np.array(p0)
    return np.stack([p, 1 - p], axis=1)


def test_confident_joint_and_flags_on_known_probabilities():
    from newsclf.audit import find_label_issues

    issues = find_label_issues(np.array(LABELS), probs(P0))
    assert issues.thresholds == pytest.approx([0.675, 0.675])
    assert issues.joint == pytest.approx(np.array([[3.0, 1.0], [1.0, 3.0]]))
    assert issues.rows.tolist() == [3, 7]  # score .9, then .8
    assert issues.suggested[[3, 7]].tolist() == [1, 0]
    assert issues.scores == pytest.approx([0.1, 0.2, 0.1, 0.9, 0.1, 0.3, 0.1, 0.8])
    assert issues.ranking()[:4].tolist() == [3, 7, 5, 1]


def test_the_joint_is_calibrated_to_the_label_counts():
    from newsclf.audit.confident import confident_joint

    # Label 0: 4 rows, 2 above t0 = .55 (rows 0, 1), 1 above t1 only (row 3), row 2 above none.
    labels = np.array([0, 0, 0, 0, 1, 1])
    p0 = [0.9, 0.9, 0.4, 0.0, 0.2, 0.0]
    joint, thresholds = confident_joint(labels, probs(p0))
    assert thresholds == pytest.approx([0.55, 0.9])
    # Raw counts [[2, 1], [0, 1]] (row 4's p1 = .8 < .9 is not counted); rows scaled to 4 and
    # 2 rows: [[8/3, 4/3], [0, 2]], which already sums to 6.
    assert joint == pytest.approx(np.array([[8 / 3, 4 / 3], [0.0, 2.0]]))


def test_a_row_predicted_as_its_label_is_never_flagged():
    from newsclf.audit import find_label_issues

    # Every row's most probable class is its label: nothing to flag, whatever the joint says.
    labels = np.array([0, 0, 1, 1])
    issues = find_label_issues(labels, probs([0.9, 0.51, 0.49, 0.1]))
    assert issues.rows.tolist() == []


def test_tags_likely_missing_and_likely_wrong():
    from newsclf.audit import find_tag_issues

    # Tag a: row 2 lacks it although p = .95 (missing); tag b: row 0 has it at p = .05 (wrong).
    tags = np.array([[1, 1], [1, 0], [0, 0], [0, 1], [1, 0], [0, 1], [0, 0], [1, 1]])
    p = np.array([[0.9, 0.05], [0.9, 0.1], [0.95, 0.1], [0.1, 0.9],
                  [0.8, 0.2], [0.2, 0.8], [0.1, 0.1], [0.9, 0.9]])  # fmt: skip
    issues = find_tag_issues(tags, p)
    assert sorted(issues.rows.tolist()) == [0, 2]
    assert issues.suggested[0].tolist() == [1, 0] and issues.suggested[2].tolist() == [1, 0]
    assert issues.scores[[0, 2]] == pytest.approx([0.95, 0.95])


# --- duplicates and the files -------------------------------------------------------------


@pytest.fixture
def planted_files(tmp_path):
    """train.csv and test.csv (synthetic rows) with planted duplicates: an exact copy of a
    train row in test, a near copy within train with another label, and a blank row."""
    train = synthetic_rows(40, seed=1)
    train[5] = ("Markets rally as Profit soars", "Business")
    train[9] = ("markets   rally as profit SOARS", "World")  # near-exact, conflicting label
    train[12] = ("", "Sports")  # blank: skipped, its row still counted
    test = synthetic_rows(12, seed=2)
    test[3] = train[20]  # exact copy across splits
    return write_csv(tmp_path / "train.csv", train), write_csv(tmp_path / "test.csv", test)


def _read(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_audit_finds_duplicates_and_writes_its_files(planted_files, tmp_path):
    from newsclf.audit import audit

    train, test = planted_files
    cfg = TrainConfig(data=str(train), test_data=str(test), quiet=True).validate()
    result = audit(cfg, tmp_path / "audit", method="tfidf", folds=2)
    names = sorted(p.name for p in (tmp_path / "audit").iterdir())
    assert names == ["duplicates.csv", "label_issues.csv", "report.html", "summary.json"]
    dup = _read(tmp_path / "audit" / "duplicates.csv")
    groups = {}
    for row in dup:
        groups.setdefault(row["group"], []).append((row["split"], int(row["row"]), row["kind"]))
    found = sorted(sorted(g) for g in groups.values())
    assert [("test", 3, "exact"), ("train", 20, "exact")] in found
    assert [("train", 5, "near-exact"), ("train", 9, "near-exact")] in found
    conflicting = [r for r in dup if r["conflicting_labels"] == "True"]
    assert sorted(int(r["row"]) for r in conflicting) == [5, 9]
    assert dup[0]["conflicting_labels"] == "True"  # conflicts are listed first
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["rows"] == {"train": 39, "test": 12}
    assert summary["duplicates"]["conflicting_groups"] == 1
    assert summary["duplicates"]["groups_across_splits"] >= 1
    assert result.summary == summary


def test_label_issues_point_at_the_file_rows(tmp_path):
    """Rows past a blank one keep their file row; a planted wrong label is found and the
    class its words belong to is suggested."""
    from newsclf.audit import audit

    rows = synthetic_rows(80, seed=3)
    rows[0] = ("", "World")
    rng = random.Random(0)
    planted = {17: "Sports", 42: "Business", 63: "World"}
    for row, wrong in planted.items():
        rows[row] = (" ".join(rng.choices(CLASS_WORDS["Sci/Tech"].split(), k=10)), wrong)
    result = audit(TrainConfig(data=str(write_csv(tmp_path / "d.csv", rows)), quiet=True),
                   tmp_path / "audit", method="tfidf", folds=4)  # fmt: skip
    issues = _read(tmp_path / "audit" / "label_issues.csv")
    assert list(issues[0]) == ["split", "row", "text", "given_label", "suggested_label", "score"]
    by_row = {int(r["row"]): r for r in issues}
    for row, wrong in planted.items():
        assert by_row[row]["given_label"] == wrong
        assert by_row[row]["suggested_label"] == "Sci/Tech"
        assert by_row[row]["text"] == rows[row][0]
    scores = [float(r["score"]) for r in issues]
    assert scores == sorted(scores, reverse=True)
    assert result.summary["rows"] == {"train": 79}


def test_multi_label_audit_names_the_tag(tmp_path):
    from newsclf.audit import audit

    rows = [("goal striker match", "sport"), ("shares profit market", "money")] * 12
    rows += [("goal striker match shares profit market", "sport|money")] * 6
    rows[3] = ("shares profit market", "money|sport")  # a wrong tag, planted
    data = write_csv(tmp_path / "tags.csv", rows, ("text", "labels"))
    audit(TrainConfig(data=str(data), quiet=True), tmp_path / "audit", method="tfidf", folds=3)
    issues = _read(tmp_path / "audit" / "label_issues.csv")
    assert "issue" in issues[0]
    planted = [r for r in issues if r["row"] == "3"]
    assert planted and planted[0]["issue"] == "likely wrong: sport"


def test_embeddings_method_with_a_local_encoder(planted_files, tmp_path, tiny_bert_dir):
    from newsclf.audit import audit

    train, _ = planted_files
    result = audit(TrainConfig(data=str(train), quiet=True), tmp_path / "audit", method="both",
                   folds=2, encoder=str(tiny_bert_dir))  # fmt: skip
    probabilities = result.crossfit.probabilities
    assert probabilities.shape == (39, 4)
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(39))
    assert set(result.summary["seconds"]) >= {"tfidf", "embed", "embeddings"}


def test_cli_audit(planted_files, tmp_path, capsys):
    from newsclf.cli import main

    train, test = planted_files
    out = tmp_path / "out"
    code = main(["audit", "--data", str(train), "--test-data", str(test), "--method", "tfidf",
                 "--folds", "2", "--output", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "duplicate groups:" in printed and "1 with conflicting labels" in printed
    assert (out / "report.html").read_text().count("<tr>") > 3


def test_too_few_rows_for_the_folds_is_refused(tmp_path):
    from newsclf.audit import audit
    from newsclf.errors import DataError

    rows = [("a b", "x")] * 10 + [("c d", "y")] * 2
    data = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(DataError, match="fewer than the 5 folds"):
        audit(TrainConfig(data=str(data), quiet=True), tmp_path / "audit", method="tfidf")
    assert not (tmp_path / "audit").exists()


# --- training's leak check ----------------------------------------------------------------


def test_load_data_counts_test_rows_that_occur_in_train(planted_files):
    from newsclf.data import load_data

    train, test = planted_files
    validation = write_csv(train.parent / "validation.csv", synthetic_rows(12, seed=4))
    cfg = TrainConfig(data=str(train), validation_data=str(validation), test_data=str(test))
    data = load_data(cfg.validate())  # no split carved: train holds the copied row
    assert data.overlap["test_in_train"] >= 1
    assert data.summary()["overlap"] == data.overlap
    notes = [n for n in data.notes if "also occur" in n]
    assert len(notes) == 1 and "\n" not in notes[0]


def test_folding_is_case_and_whitespace_only():
    from newsclf.data.duplicates import fold

    assert fold("  Markets\tRALLY \n as ") == "markets rally as"
    assert fold("Markets rally!") != fold("Markets rally")


def test_an_output_path_that_is_a_file_is_refused_before_any_work(tmp_path):
    from newsclf.audit import audit
    from newsclf.errors import OutputError

    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        audit(TrainConfig(data=str(tmp_path / "missing.csv")), tmp_path / "taken")
