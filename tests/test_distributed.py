"""Data-parallel training: two CPU processes (gloo) launched by `accelerate launch`.

The validation metrics a 2-process run records (each process scoring its shard, gathered
with `gather_for_metrics`) must equal a single process scoring the same best_model on the
same validation rows. 41 rows in batches of 8 leave an uneven last batch, which Accelerate
pads with repeated rows on one process: counted twice, or dropped, the metrics would differ.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(port: int) -> list[str]:
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    launch += ["--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
    return launch + ["--dynamo_backend", "no", "--main_process_port", str(port)]


def _train_on_two_processes(
    tmp_path: Path, model: Path, *flags: str
) -> subprocess.CompletedProcess:
    """`newsclf train` on the tiny model under `accelerate launch`, two CPU processes; it must
    succeed, and only the main process prints."""
    train = ["-m", "newsclf", "train", "--model", str(model), "--output-dir", str(tmp_path)]
    train += [*flags, "--precision", "fp32", "--no-visuals", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        _launch(_free_port()) + train, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Run written to") == 1  # only the main process prints
    return done


def test_two_processes_record_the_single_process_validation_metrics(tmp_path, tiny_bert_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from newsclf import TrainConfig, load_data

    _train_on_two_processes(
        tmp_path, tiny_bert_dir, "--name", "ddp", "--epochs", "2", "--batch-size", "8",
        "--max-train-samples", "64", "--max-eval-samples", "41", "--eval-batch-size", "8",
        "--max-test-samples", "16", "--max-length", "48", "--long-texts", "truncate",
    )  # fmt: skip

    run = tmp_path / "ddp"
    history = json.loads((run / "history.json").read_text())
    assert history["num_processes"] == 2
    assert [row["steps"] for row in history["epochs"]] == [4, 4]  # 64 rows / (2 x 8)
    recorded = next(r for r in history["epochs"] if r["epoch"] == history["best_epoch"])

    cfg = TrainConfig.from_yaml(run / "config.yaml")
    validation = load_data(cfg).splits["validation"]
    assert len(validation) == 41
    tokenizer = AutoTokenizer.from_pretrained(run / "best_model")
    model = AutoModelForSequenceClassification.from_pretrained(run / "best_model").eval()
    enc = tokenizer(
        list(validation["text"]), truncation=True, max_length=48, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**enc).logits
    labels = torch.tensor(validation["label"])
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    assert recorded["val_accuracy"] == round(accuracy, 5)
    # The loss is a float32 mean over differently padded batches, summed in another order,
    # and history.json rounds it to 5 decimals: equal to 1e-4, far below one row's weight.
    assert recorded["val_loss"] == pytest.approx(loss, abs=1e-4)


def test_two_processes_evaluate_to_the_single_process_metrics(tmp_path, tiny_run):
    """37 rows over 2 processes: shards of 19 and 18 rows, the second evened out by Accelerate
    with a repeated row. Each process scores its shard; the gathered rows, in input order, give the single process's metrics exactly
    (the predicted classes are compared, not floats: a row's class does not depend on which
    process scored it)."""
    from newsclf import evaluate
    from newsclf.data import AG_NEWS_LABELS

    rows = [f"{AG_NEWS_LABELS[i % 4]} news number {i} " + "word " * (i % 7) for i in range(37)]
    data = tmp_path / "rows.csv"
    data.write_text(
        "text,label\n" + "".join(f"{t},{AG_NEWS_LABELS[i % 4]}\n" for i, t in enumerate(rows))
    )
    single = evaluate(tiny_run.run_dir, str(data), output=tmp_path / "one.json", batch_size=8)

    out = tmp_path / "two.json"
    cmd = _launch(_free_port()) + ["-m", "newsclf", "evaluate", str(tiny_run.run_dir)]
    cmd += ["--data", str(data), "--output", str(out), "--batch-size", "8", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("written to") == 1  # written and reported once
    two = json.loads(out.read_text())
    assert two["num_processes"] == 2
    for key in ("num_samples", "accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert two[key] == single[key], key
    assert [s["predicted"] for s in two["samples"]] == [s["predicted"] for s in single["samples"]]
    assert [s["text"] for s in two["samples"]] == [s["text"] for s in single["samples"]]
    confidences = [s["confidence"] for s in single["samples"]]
    assert [s["confidence"] for s in two["samples"]] == pytest.approx(confidences, abs=1e-5)


def test_two_processes_predict_a_file_to_the_single_process_rows(tmp_path, tiny_bert_dir):
    """`predict --file --output` under 2 processes: 37 rows (two blank, skipped), so the two
    shards are uneven and Accelerate repeats a row to even them out. The output has the single
    process's rows, once each, in input order, with the same labels; probabilities agree to
    1e-5: the CSV keeps 6 decimals, and a row's float32 sums differ in the last bits when it
    is batched (and padded) with other rows. Only the main process writes and prints."""
    import pandas as pd

    from newsclf import Classifier
    from newsclf.inference import predict_file
    from serve_helpers import PROBE_TEXTS, build_spread_model

    model = build_spread_model(tiny_bert_dir, tmp_path / "model")
    texts = [f"{PROBE_TEXTS[i % len(PROBE_TEXTS)]} {i}" for i in range(37)]
    texts[5] = texts[20] = " "
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": range(37), "text": texts}).to_csv(source, index=False)
    single = tmp_path / "one.csv"
    predict_file(Classifier.from_pretrained(model), source, single)

    out = tmp_path / "two.csv"
    cmd = _launch(_free_port()) + ["-m", "newsclf", "predict", str(model), "--file", str(source)]
    cmd += ["--output", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote 35 predictions") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "model", "one.csv", "two.csv"]
    one, two = pd.read_csv(single), pd.read_csv(out)
    assert list(two["row"]) == [i for i in range(37) if i not in (5, 20)]
    assert list(two.columns) == list(one.columns)
    assert list(two["row"]) == list(one["row"]) and list(two["label"]) == list(one["label"])
    assert one["label"].nunique() > 1  # a row in the wrong place would change a label
    numbers = [c for c in one.columns if c == "score" or c.startswith("p_")]
    assert (two[numbers] - one[numbers]).abs().max().max() <= 1e-5


def test_two_processes_resolve_the_same_auto_recipe(tmp_path, tiny_bert_dir):
    """`auto` is chosen in every process from the same rows: the budget counts the effective
    batch (2 processes x 8), and the run completes with one saved config saying so."""
    import yaml

    from newsclf.training.recipe import choose_budget

    done = _train_on_two_processes(
        tmp_path, tiny_bert_dir, "--name", "auto", "--epochs", "auto", "--max-length", "auto",
        "--batch-size", "8", "--max-train-samples", "64", "--max-eval-samples", "16",
        "--max-test-samples", "16", "--patience", "2",
    )  # fmt: skip
    assert done.stdout.count("Note: recipe: ") == 1  # said once, by the main process

    run = tmp_path / "auto"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    budget = choose_budget(rows=64, classes=4, batch=16)
    assert (saved["epochs"], saved["eval_every"], saved["patience"]) == (
        budget.epochs, budget.eval_every, 2,  # --patience given: kept
    )  # fmt: skip
    history = json.loads((run / "history.json").read_text())
    assert history["num_processes"] == 2
    assert all(row["steps"] == 4 for row in history["epochs"])  # 64 rows / (2 x 8)


def test_two_processes_pool_a_texts_windows_split_between_them(tmp_path, tiny_bert_dir):
    """Under chunks a validation text's windows may be scored on different processes: the
    gathered windows are pooled per text, so the recorded accuracy is the one a single
    Classifier (which pools the same windows) gives on the validation texts."""
    from newsclf import TrainConfig, load_data
    from newsclf.inference import Classifier

    _train_on_two_processes(
        tmp_path, tiny_bert_dir, "--name", "chunks", "--epochs", "1", "--batch-size", "8",
        "--max-train-samples", "32", "--max-eval-samples", "21", "--eval-batch-size", "8",
        "--max-test-samples", "8", "--max-length", "24", "--long-texts", "chunks",
    )  # fmt: skip
    run = tmp_path / "chunks"
    history = json.loads((run / "history.json").read_text())
    validation = load_data(TrainConfig.from_yaml(run / "config.yaml")).splits["validation"]
    inference = Classifier.from_pretrained(run).infer(list(validation["text"]))
    accuracy = float((inference.predicted == np.asarray(validation["label"])).mean())
    assert history["epochs"][0]["val_accuracy"] == round(accuracy, 5)


def test_two_processes_agree_on_a_default_run_name(tmp_path, tiny_bert_dir):
    """Without --name, the main process's choice (ag_news taken: ag_news-2) is every process's:
    one run directory, the name said once."""
    (tmp_path / "ag_news").mkdir()
    (tmp_path / "ag_news" / "config.yaml").write_text("an earlier run\n")
    done = _train_on_two_processes(
        tmp_path, tiny_bert_dir, "--epochs", "1", "--batch-size", "8",
        "--max-train-samples", "32", "--max-eval-samples", "16", "--max-test-samples", "16",
        "--max-length", "32",
    )  # fmt: skip
    assert done.stdout.count("Run name: ag_news-2") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ag_news", "ag_news-2"]
