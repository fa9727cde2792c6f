"""benchmarks/bench_recipes.py: a run there is `newsclf train`'s up to the end of fit (the same
history.json), results are written after every run, and a second call skips what is done."""

import json

from benchmarks import bench_recipes

from helpers import model_weights, tiny_config
from newsclf import train

TINY = dict(epochs=1, max_train_samples=64, max_eval_samples=24, max_test_samples=16)


def _without_seconds(history):
    for row in history["epochs"]:
        del row["seconds"], row["train_seconds"]
    return history


def test_a_sweep_run_is_a_train_run_and_the_sweep_resumes(tmp_path, tiny_bert_dir, monkeypatch):
    small = dict(TINY, model=str(tiny_bert_dir), batch_size=16, max_length=48, precision="fp32")
    monkeypatch.setitem(bench_recipes.SETTINGS, "tiny_ema", {"ema_decay": 0.9})
    sets = [f"{k}={v}" for k, v in small.items()]
    out = tmp_path / "recipes.json"
    argv = ["--settings", "baseline", "tiny_ema", "--seeds", "7", "--out", str(out), "--set", *sets]
    import torch

    # The sweep sets torch's threads (1 by default): keep this session's.
    argv += ["--workdir", str(tmp_path / "work"), "--threads", str(torch.get_num_threads())]
    assert bench_recipes.main(argv) == 0
    report = json.loads(out.read_text())
    assert [(r["setting"], r["seed"]) for r in report["runs"]] == [("baseline", 7), ("tiny_ema", 7)]
    cfg = tiny_config(tiny_bert_dir, tmp_path / "runs", seed=7, learning_rate=1e-4, **TINY)
    expected = _without_seconds(json.loads((train(cfg).run_dir / "history.json").read_text()))
    assert _without_seconds(report["runs"][0]["history"]) == expected
    assert bench_recipes.main(argv) == 0  # everything done: nothing runs again
    assert len(json.loads(out.read_text())["runs"]) == 2
    rows = bench_recipes.summary(report)
    assert [r["setting"] for r in rows] == ["baseline", "tiny_ema"]
    assert rows[0]["vs_baseline"] == 0.0
    assert "`--ema-decay 0.9`" in bench_recipes.markdown(report)


def test_self_distillation_sweep_trains_a_teacher_then_a_student(tmp_path, tiny_bert_dir):
    import torch
    from benchmarks import bench_self_distill

    from newsclf.training import engine

    small = dict(TINY, model=str(tiny_bert_dir), batch_size=16, max_length=48, precision="fp32")
    out = tmp_path / "recipes.json"
    argv = ["--seeds", "7", "--out", str(out), "--workdir", str(tmp_path / "work")]
    argv += ["--threads", str(torch.get_num_threads()), "--set"]
    argv += [f"{k}={v}" for k, v in small.items()]
    real = engine.make_objective
    assert bench_self_distill.main(argv) == 0
    assert engine.make_objective is real  # the student's loss is put back
    (run,) = json.loads(out.read_text())["runs"]
    assert run["setting"] == "self_distill_a0.5_t2" and 0 <= run["val_accuracy"] <= 1
    assert run["seconds"] >= run["student_seconds"] > 0


def test_the_soup_benchmark_makes_the_soup_newsclf_train_saves(tmp_path, tiny_bert_dir):
    """bench_soup.py builds its soup itself: the same members from the same start give the
    weights `newsclf train --soup 2` saves; its JSON scores members, ensembles and soups."""
    import torch
    from benchmarks import bench_soup

    small = dict(TINY, model=str(tiny_bert_dir), batch_size=16, max_length=48, precision="fp32")
    out, keep = tmp_path / "soup.json", tmp_path / "keep"
    argv = ["--carves", "7", "--members", "2", "--out", str(out), "--keep", str(keep)]
    argv += ["--workdir", str(tmp_path / "work"), "--threads", str(torch.get_num_threads())]
    argv += ["--set", *[f"{k}={v}" for k, v in small.items()]]
    assert bench_soup.main(argv) == 0
    (carve,) = json.loads(out.read_text())["carves"]
    assert [m["seed"] for m in carve["members"]] == [7, 1007]
    assert len(carve["ensemble"]) == len(carve["soup"]) == 1
    cfg = tiny_config(tiny_bert_dir, tmp_path / "runs", seed=7, learning_rate=1e-4, soup=2,
                      calibration="none", **TINY)  # fmt: skip
    theirs = model_weights(train(cfg).run_dir / "best_model")
    ours = model_weights(keep / "7")
    assert theirs.keys() == ours.keys()
    assert all(torch.allclose(theirs[k], ours[k], atol=1e-6) for k in theirs)
