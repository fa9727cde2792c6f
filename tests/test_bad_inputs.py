"""Every kind of bad input a careful user might try, and the answer each one gets.

One table. Each CLI row runs `newsclf.cli.main` in-process inside a workspace of good and bad
files and asserts: exit code 2, exactly one line on stderr that holds the row's fragment and
says what to do, no traceback, and nothing written under the output directories. No row may
load a model: the loaders are replaced by a function that fails the test, so every refusal
is known to come before any slow work. The server rows expect a 4xx answer.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from helpers import synthetic_rows, write_csv
from newsclf.cli import main
from newsclf.data import AG_NEWS_LABELS

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
AS_ROOT = pytest.mark.skipif(IS_ROOT, reason="root reads and writes through any permission bits")
# Every message says what to do about it; one of these words names the fix.
FIX_WORDS = (
    "expected", "Expected", "pass", "Pass", "Fix", "Check", "Pick", "See", "Use", "Remove",
    "Add", "Give", "Write", "Make", "Name", "Fill", "map", "Re-save", "Install",
)  # fmt: skip
OUTPUT_DIRS = ("runs", "out")
TRAIN = ["train", "--data", "train.csv", "--model", "model", "--output-dir", "out"]
EVAL = ["evaluate", "model", "--output", "out/metrics.json"]


def yaml_row(name: str, text: str, fragment: str) -> pytest.param:
    return pytest.param(["train", "--config", f"{name}.yaml"], fragment, {name: text}, id=name)


def row(argv: list[str], fragment: str, files: dict | None = None, **kw) -> pytest.param:
    return pytest.param(argv, fragment, files or {}, **kw)


ROWS = [
    # --- config files -------------------------------------------------------------------
    yaml_row("yaml-syntax-error", "epochs: [\n", "is not valid YAML"),
    yaml_row("yaml-tab-indent", "epochs: 2\n\tbatch_size: 4\n", "is not valid YAML"),
    yaml_row("yaml-word-for-int", "epochs: three\n", "epochs='three': expected a whole number"),
    yaml_row("yaml-fraction-for-int", "epochs: 2.5\n", "epochs=2.5"),
    yaml_row("yaml-list-for-float", "learning_rate: [1, 2]\n", "learning_rate=[1, 2]"),
    yaml_row("yaml-word-for-bool", "visuals: maybe\n", "visuals='maybe'"),
    yaml_row("yaml-int-for-list", "label_names: 5\n", "label_names=5"),
    yaml_row("yaml-list-for-str", "data: [a, b]\n", "data=['a', 'b']"),
    yaml_row("yaml-top-level-list", "- epochs\n- 2\n", "must hold a mapping"),
    yaml_row("yaml-unknown-key", "epochz: 3\n", "epochz"),
    yaml_row("yaml-negative-epochs", "epochs: -1\n", "epochs=-1"),
    row(["train", "--config", "nope.yaml"], "Config file nope.yaml does not exist", id="yaml-missing"),
    row(["train", "--config", "a_dir"], "is a directory", id="yaml-is-a-directory"),
    # --- numeric flags: negative, zero, absurd, not a number ----------------------------------
    row([*TRAIN, "--epochs", "0"], "epochs=0", id="epochs-zero"),
    row([*TRAIN, "--epochs", "-3"], "epochs=-3", id="epochs-negative"),
    row([*TRAIN, "--epochs", "two"], "epochs='two': expected a whole number >= 1, or 'auto'",
        id="epochs-word"),
    row([*TRAIN, "--batch-size", "0"], "batch_size=0", id="batch-size-zero"),
    row([*TRAIN, "--batch-size", "-1"], "batch_size=-1", id="batch-size-negative"),
    row([*TRAIN, "--eval-batch-size", "0"], "eval_batch_size=0", id="eval-batch-size-zero"),
    row([*TRAIN, "--max-length", "0"], "max_length=0", id="max-length-zero"),
    row([*TRAIN, "--max-length", "100000"], "max_position_embeddings", id="max-length-absurd"),
    row([*TRAIN, "--long-texts", "windows"], "long_texts='windows': expected one of auto,",
        id="long-texts-word"),
    row([*TRAIN, "--stride=-1"], "stride=-1: expected a whole number of tokens >= 0",
        id="stride-negative"),
    row([*TRAIN, "--long-texts", "chunks", "--max-length", "64", "--stride", "40"],
        "overlap between windows of 0 to 31 tokens", id="stride-half-a-window"),
    row([*TRAIN, "--learning-rate=-1e-4"], "learning_rate=-0.0001", id="lr-negative"),
    row([*TRAIN, "--learning-rate", "0"], "learning_rate=0.0", id="lr-zero"),
    row([*TRAIN, "--learning-rate", "5"], "below 1", id="lr-absurd"),
    row([*TRAIN, "--learning-rate", "nan"], "learning_rate=nan", id="lr-nan"),
    row([*TRAIN, "--learning-rate", "fast"], "invalid float value: 'fast'", id="lr-word"),
    row([*TRAIN, "--weight-decay", "-0.1"], "weight_decay=-0.1", id="weight-decay-negative"),
    row([*TRAIN, "--weight-decay", "inf"], "weight_decay=inf", id="weight-decay-inf"),
    row([*TRAIN, "--warmup-ratio", "1.5"], "warmup_ratio=1.5", id="warmup-above-one"),
    row([*TRAIN, "--warmup-ratio", "-0.1"], "warmup_ratio=-0.1", id="warmup-negative"),
    row([*TRAIN, "--max-grad-norm", "-1"], "max_grad_norm=-1.0", id="grad-norm-negative"),
    row([*TRAIN, "--num-workers", "-1"], "num_workers=-1", id="workers-negative"),
    row([*TRAIN, "--num-workers", "10000"], "num_workers=10000", id="workers-absurd"),
    row([*TRAIN, "--val-fraction", "0"], "val_fraction=0.0", id="val-fraction-zero"),
    row([*TRAIN, "--val-fraction", "1.5"], "val_fraction=1.5", id="val-fraction-above-one"),
    row([*TRAIN, "--test-fraction", "1"], "test_fraction=1.0", id="test-fraction-one"),
    row([*TRAIN, "--test-fraction", "-0.2"], "test_fraction=-0.2", id="test-fraction-negative"),
    row(
        [*TRAIN, "--val-fraction", "0.5", "--test-fraction", "0.45"],
        "under 10% of the rows to train on",
        id="fractions-leave-nothing",
    ),
    row([*TRAIN, "--max-train-samples", "0"], "max_train_samples=0", id="max-train-zero"),
    row([*TRAIN, "--max-eval-samples", "-5"], "max_eval_samples=-5", id="max-eval-negative"),
    row([*TRAIN, "--max-test-samples", "0"], "max_test_samples=0", id="max-test-zero"),
    row([*TRAIN, "--seed", "-1"], "seed=-1", id="seed-negative"),
    row([*TRAIN, "--seed", "99999999999"], "seed=99999999999", id="seed-absurd"),
    # --- other flags ------------------------------------------------------------------------
    row([*TRAIN, "--precision", "fp8"], "precision='fp8'", id="precision-unknown"),
    row([*TRAIN, "--name", "a/b"], "name='a/b'", id="name-with-slash"),
    row([*TRAIN, "--label-names", "World,World"], "must be distinct", id="label-names-twice"),
    row([*TRAIN, "--bogus-flag", "1"], "unrecognized arguments: --bogus-flag", id="unknown-flag"),
    # --- training data -------------------------------------------------------------------------
    row([*TRAIN, "--data", "missing.csv"], "--data missing.csv does not exist", id="data-missing"),
    row([*TRAIN, "--data", "sub/missing.csv"], "does not exist", id="data-missing-not-hub"),
    row([*TRAIN, "--data", "agnews"], "neither a bundled dataset", id="data-misspelt-name"),
    row([*TRAIN, "--data", "empty_dir"], "holds no train/validation/test", id="data-empty-dir"),
    row([*TRAIN, "--test-data", "dir.csv"], "dir.csv is a directory", id="data-file-is-a-dir"),
    row([*TRAIN, "--data", "data.xlsx"], "unknown file type", id="data-unknown-suffix"),
    row([*TRAIN, "--data", "header_only.csv"], "holds no rows", id="data-header-only"),
    row([*TRAIN, "--data", "zero.csv"], "holds no rows", id="data-zero-bytes"),
    row([*TRAIN, "--data", "empty_labels.csv"], "with an empty label", id="labels-empty-cells"),
    row([*TRAIN, "--data", "nan_labels.jsonl"], "with an empty label", id="labels-null-json"),
    row([*TRAIN, "--data", "mixed.jsonl"], "mix numbers", id="labels-mixed-types-json"),
    row([*TRAIN, "--data", "mixed.csv"], "mix numbers ['1']", id="labels-mixed-csv"),
    row([*TRAIN, "--data", "dupe.csv"], "['text'] more than once", id="columns-duplicate"),
    row([*TRAIN, "--data", "misspelt.csv"], "found columns ['txt', 'lable']", id="columns-misspelt"),
    row([*TRAIN, "--text-column", "body"], "Text column(s) ['body']", id="text-column-missing"),
    row([*TRAIN, "--label-column", "topic"], "Label column 'topic'", id="label-column-missing"),
    row(
        [*TRAIN, "--test-data", "test_unseen.csv"],
        "Labels ['Weather'] in the test split",
        id="test-labels-unseen-in-train",
    ),
    row(
        [*TRAIN, "--label-names", "World,Sports"],
        "not among the classes ['World', 'Sports']",
        id="label-names-too-few",
    ),
    row([*TRAIN, "--data", "one_class.csv"], "single class", id="data-one-class"),
    row([*TRAIN, "--data", "blank_texts.csv"], "no rows with non-empty text", id="texts-all-blank"),
    row([*TRAIN, "--data", "latin1.csv"], "not valid utf-8", id="data-bad-encoding"),
    row([*TRAIN, "--test-data", "nope.csv"], "nope.csv does not exist", id="test-data-missing"),
    row([*TRAIN, "--data", "locked.csv"], "permission denied", id="data-unreadable", marks=AS_ROOT),
    # --- multi-label data ----------------------------------------------------------------------
    row([*TRAIN, "--data", "tags_twice.csv"], "names ['x'] more than once", id="tags-repeated"),
    row([*TRAIN, "--data", "tags.csv", "--label-names", "x,z"], "Labels ['y'] in the train split", id="tags-unknown"),
    row([*TRAIN, "--data", "tags.csv", "--label-names", "x,y,z"], "['z'] never occur in the training", id="tags-never-in-train"),
    row([*TRAIN, "--data", "tag_columns.csv", "--label-columns", "x,y"], "Column 'x' holds '2' at data row 4", id="tags-not-0-1"),
    row([*TRAIN, "--data", "tag_columns.csv", "--label-columns", "tag_*"], "'tag_*' matches no column", id="tags-prefix-unmatched"),
    row([*TRAIN, "--data", "tag_columns.csv", "--label-columns", "x,z"], "Label column 'z' not in the train split", id="tags-column-missing"),
    row([*TRAIN, "--label-columns", "x,y", "--task", "single-label"], "0/1 columns are multi-label data", id="tags-task-single"),
    row([*TRAIN, "--task", "multi"], "task='multi': expected one of auto", id="task-unknown"),
    row([*TRAIN, "--metric", "micro_f1"], "does not apply to single-label data", id="metric-for-other-task"),
    row([*TRAIN, "--data", "tags.csv", "--metric", "accuracy"], "does not apply to multi-label data", id="metric-accuracy-multi"),
    row([*TRAIN, "--thresholds", "each"], "thresholds='each': expected global or per-class", id="thresholds-mode"),
    # --- tracking and search -------------------------------------------------------------------
    row([*TRAIN, "--report-to", "neptune"], "unknown tracker(s) ['neptune']", id="tracker-unknown"),
    row([*TRAIN, "--report-to", "wandb"], "needs the wandb package", id="tracker-not-installed"),
    row([*TRAIN, "--report-to", "mlflow", "--tracking-uri", "http://127.0.0.1:9"], "cannot be reached", id="tracker-unreachable"),
    row([*TRAIN, "--log-every", "0"], "log_every=0: expected a whole number >= 1", id="log-every-zero"),
    row(["tune", "--space", "nope.yaml"], "Search space file nope.yaml does not exist", id="tune-space-missing"),
    row(["tune", "--trials", "0"], "--trials=0: expected a whole number >= 1", id="tune-zero-trials"),
    # --- model and output ----------------------------------------------------------------------
    row([*TRAIN, "--model", "./nope"], "--model directory nope does not exist", id="model-missing"),
    row([*TRAIN, "--model", "not_a_model"], "not a complete model directory", id="model-not-a-model"),
    row([*TRAIN, "--model", "notes.txt"], "notes.txt is a file", id="model-is-a-file"),
    row([*TRAIN, "--model", "org/model"], "HF_HUB_OFFLINE is set", id="model-hub-offline"),
    row(
        [*TRAIN, "--output-dir", "notes.txt/runs"],
        "notes.txt is a file, not a directory",
        id="output-dir-under-a-file",
    ),
    row(
        [*TRAIN, "--output-dir", "locked_dir/runs"],
        "not writable",
        id="output-dir-read-only",
        marks=AS_ROOT,
    ),
    row(
        [*TRAIN, "--output-dir", "existing", "--name", "tiny"],
        "already holds a run",
        id="run-exists",
    ),
    # --- evaluate ------------------------------------------------------------------------------
    row(["evaluate", "runs/typo"], "runs/typo does not exist", id="eval-typo"),
    row(["evaluate", "notes.txt"], "notes.txt is a file", id="eval-model-is-a-file"),
    row(["evaluate", "not_a_model"], "not a complete model directory", id="eval-not-a-model"),
    row(["evaluate", "model"], "pass the data to score with --data", id="eval-model-without-data"),
    row(
        [*EVAL, "--data", "other.csv"],
        f"['politics'] in the test split are not among the classes {AG_NEWS_LABELS}",
        id="eval-labels-spelt-otherwise",
    ),
    row([*EVAL, "--data", "train.csv", "--label-map", "world:World"], "DATA_LABEL=CLASS", id="eval-label-map-syntax"),
    row(
        [*EVAL, "--data", "other.csv", "--label-map", "politics=Politics"],
        "maps to ['Politics'], which the model does not know",
        id="eval-label-map-unknown-class",
    ),
    row(
        [*EVAL, "--data", "train.csv", "--label-map", "map.json"],
        "does not hold a mapping",
        id="eval-label-map-file-not-a-mapping",
    ),
    row([*EVAL, "--data", "train.csv", "--batch-size", "0"], "batch_size=0", id="evaluate-batch-size-zero"),
    row(
        ["evaluate", "model", "--data", "train.csv", "--output", "notes.txt/m.json"],
        "notes.txt is a file, not a directory",
        id="eval-output-under-a-file",
    ),
    row(["evaluate", "model", "--data", "train.csv", "--output", "a_dir"], "is a directory", id="eval-output-is-a-dir"),
    row([*EVAL, "--data", "missing.csv"], "missing.csv does not exist", id="eval-data-missing"),
    row([*EVAL, "--split", "dev"], "invalid choice: 'dev'", id="eval-split-unknown"),
    row([*EVAL, "--data", "train.csv", "--label-column", "topic"], "Label column 'topic'", id="eval-label-column"),
    row([*EVAL, "--data", "headerless_odd.csv", "--header"], "No text column", id="eval-header-forced"),
    # --- predict -------------------------------------------------------------------------------
    row(["predict", "runs/typo", "hello"], "Model directory runs/typo does not exist", id="predict-typo"),
    row(["predict", "model", ""], "TEXT argument 1 of 1 is blank", id="predict-empty-text"),
    row(["predict", "model", "ok", "   "], "TEXT argument 2 of 2 is blank", id="predict-blank-text"),
    row(["predict", "model"], "no text to classify", id="predict-no-text"),
    row(["predict", "model", "--file", "missing.txt"], "missing.txt does not exist", id="predict-file-missing"),
    row(["predict", "model", "--file", "dir.csv"], "is a directory", id="predict-file-is-a-dir"),
    row(["predict", "model", "--file", "texts.csv", "--column", "body"], "has no column 'body'", id="predict-column-missing"),
    row(["predict", "model", "--file", "texts.csv"], "row 2 of 3 is blank", id="predict-blank-cell"),
    row(["predict", "model", "hello", "--batch-size", "0"], "--batch-size=0", id="predict-batch-size-zero"),
    row(["predict", "notes.txt", "hello"], "notes.txt is a file", id="predict-model-is-a-file"),
    row(["predict", "not_a_model", "hello"], "not a complete model directory", id="predict-not-a-model"),
    row(["predict"], "the following arguments are required: MODEL_DIR", id="predict-no-model"),
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_bert_dir) -> Path:
    """Good and bad files, a model directory that passes every check but cannot be loaded
    (its weights file is empty), and a finished-looking run."""
    root = tmp_path_factory.mktemp("bad-inputs")
    rows = synthetic_rows(40)
    write_csv(root / "train.csv", rows)
    write_csv(root / "test_unseen.csv", [("sunny skies all week", "Weather")])
    write_csv(root / "other.csv", [("a summit", "politics"), ("a match", "Sports")])
    write_csv(root / "empty_labels.csv", [*rows, ("a text without a label", "")])
    write_csv(root / "mixed.csv", [*rows, ("a numbered label", "1")])
    write_csv(root / "dupe.csv", rows, header=("text", "text", "label"))
    write_csv(root / "misspelt.csv", rows, header=("txt", "lable"))
    write_csv(root / "one_class.csv", [(t, "Sports") for t, _ in rows])
    write_csv(root / "blank_texts.csv", [("  ", n) for _, n in rows])
    write_csv(root / "headerless_odd.csv", rows[1:], header=rows[0])
    write_csv(root / "texts.csv", [("one",), ("",), ("three",)], header=("text",))
    tags = [(t, "x|y" if i % 2 else "x") for i, (t, _) in enumerate(rows)]
    write_csv(root / "tags.csv", tags)
    write_csv(root / "tags_twice.csv", [*tags, ("a twice tagged text", "x|x")])
    columns = [(t, 1, i % 2) for i, (t, _) in enumerate(rows)]
    columns[3] = (columns[3][0], 2, 0)
    write_csv(root / "tag_columns.csv", columns, header=("text", "x", "y"))
    lines = [{"text": t, "label": None if i == 3 else n} for i, (t, n) in enumerate(rows)]
    (root / "nan_labels.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    lines = [{"text": t, "label": 1 if i == 3 else n} for i, (t, n) in enumerate(rows)]
    (root / "mixed.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    (root / "header_only.csv").write_text("text,label\n")
    (root / "zero.csv").write_text("")
    (root / "latin1.csv").write_bytes(b"text,label\ncaf\xe9,World\nmatch,Sports\n")
    (root / "data.xlsx").write_text("x")
    (root / "notes.txt").write_text("not a model")
    (root / "map.json").write_text("[1, 2]")
    for folder in ("dir.csv", "a_dir", "empty_dir", "not_a_model", "locked_dir", "existing/tiny"):
        (root / folder).mkdir(parents=True)
    (root / "not_a_model" / "README.md").write_text("hello")
    (root / "existing" / "tiny" / "history.json").write_text("{}")
    shutil.copy(root / "train.csv", root / "locked.csv")
    (root / "locked.csv").chmod(0)
    (root / "locked_dir").chmod(0o555)
    _unloadable_model(tiny_bert_dir, root / "model")
    return root


def _unloadable_model(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config["id2label"] = dict(enumerate(AG_NEWS_LABELS))
    config["label2id"] = {n: i for i, n in enumerate(AG_NEWS_LABELS)}
    (target / "config.json").write_text(json.dumps(config))
    (target / "model.safetensors").write_bytes(b"")


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    """Run in the workspace, with stdin empty, offline, and every model loader forbidden."""
    import newsclf.inference
    import newsclf.training.model

    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded: this row must be refused before that")

    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(newsclf.training.model, "build_model", forbidden)
    monkeypatch.setattr(newsclf.training.model, "load_tokenizer", forbidden)
    monkeypatch.setattr(newsclf.inference.Classifier, "from_pretrained", forbidden)
    return workspace


@pytest.mark.parametrize(("argv", "fragment", "files"), ROWS)
def test_bad_input_gets_one_line_and_exit_2(in_workspace, capsys, argv, fragment, files):
    for name, text in files.items():
        (in_workspace / f"{name}.yaml").write_text(text)
    before = sorted(p.name for p in (in_workspace / "existing" / "tiny").iterdir())
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]
    assert any(word in lines[0] for word in FIX_WORDS), f"no fix named: {lines[0]}"
    assert "Traceback" not in err
    for folder in OUTPUT_DIRS:
        assert not (in_workspace / folder).exists() or not any((in_workspace / folder).iterdir())
    assert sorted(p.name for p in (in_workspace / "existing" / "tiny").iterdir()) == before


def test_the_table_covers_enough_kinds():
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)


@pytest.fixture(scope="module")
def http(tiny_bert_dir):
    from fastapi.testclient import TestClient

    from newsclf import Classifier
    from newsclf.serve.app import create_app

    return TestClient(create_app(Classifier.from_pretrained(tiny_bert_dir), tiny_bert_dir))


SERVER_ROWS = [
    pytest.param({"json": {"texts": ["  "]}}, id="blank-text"),
    pytest.param({"json": {"texts": ["fine", ""]}}, id="one-empty-text"),
    pytest.param({"json": {"texts": []}}, id="empty-list"),
    pytest.param({"json": {"texts": "not a list"}}, id="string-for-list"),
    pytest.param({"json": {"texts": [5]}}, id="number-in-list"),
    pytest.param({"json": {}}, id="no-texts-key"),
    pytest.param({"json": {"texts": ["x"] * 100_000}}, id="too-many-texts"),
    pytest.param({"content": b"not json", "headers": {"content-type": "application/json"}}, id="not-json"),
]  # fmt: skip


@pytest.mark.parametrize("request_kwargs", SERVER_ROWS)
def test_bad_request_gets_4xx(http, request_kwargs):
    response = http.post("/predict", **request_kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text
