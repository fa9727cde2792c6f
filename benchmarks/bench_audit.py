"""Planted label noise: how many flipped labels each way of making out-of-sample probabilities
lets confident learning find, and how many per minute.

    nice -n 10 python benchmarks/bench_audit.py                    # AG News and BANKING77
    python -m benchmarks.bench_audit --sets agnews --options tfidf mean

For each set, 5% of the training rows (seeded) get a different class drawn at random; then, per
option, 5-fold cross-fitted probabilities (`newsclf.audit.crossfit`) and `find_label_issues`.
Reported per option: precision and recall of the flipped rows among the rows confident
learning flags and among the top 5% of the ranking, the minutes taken, and flipped rows found
per minute. The options: `tfidf`; `mean` and `cls` (a frozen encoder's mean-pooled or [CLS]
vectors, the embedding pass timed once and counted in both); `both` (tfidf and mean averaged).
As an anchor, cleanlab's `find_label_issues` runs on the same probabilities; cleanlab is
AGPL-3.0 and not a dependency of newsclf: it is imported here lazily and skipped (and said so
in the JSON) when it is not installed. k fine-tunings are not run: their cost is estimated from
a measured training step time (`--step-sample` steps of the default model and batch).

Results go to benchmarks/results/audit-<date>.json after every (set, option).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

SHARED = common.ROOT.parent / "shared" / "data"
SETS = ("agnews", "banking77")
OPTIONS = ("tfidf", "mean", "cls", "both")
NOISE = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS)
    p.add_argument("--options", nargs="*", default=list(OPTIONS), choices=OPTIONS)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="which rows are flipped, and to what")
    p.add_argument("--data-dir", type=Path, default=SHARED)
    p.add_argument("--step-sample", type=int, default=8, help="training steps timed (0: none)")
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def load_set(name: str, data_dir: Path) -> tuple[list[str], Any, list[str]]:
    """The training rows of a set: texts, class ids, class names."""
    from newsclf import TrainConfig
    from newsclf.data.rows import load_rows

    cfg = {"agnews": {"data": "ag_news"},
           "banking77": {"data": str(data_dir / "banking77" / "train.csv.gz"),
                         "label_column": "category"}}[name]  # fmt: skip
    rows = load_rows(TrainConfig(**cfg).validate())
    train = rows.splits["train"]
    return train.texts, train.labels, rows.label_names


def flip(labels: Any, classes: int, seed: int) -> tuple[Any, Any]:
    """NOISE of the rows given another class at random: the noisy labels, the flipped rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(labels), round(NOISE * len(labels)), replace=False))
    noisy = labels.copy()
    noisy[rows] = (labels[rows] + rng.integers(1, classes, len(rows))) % classes
    return noisy, rows


def score(flagged: Any, flipped: Any) -> dict[str, Any]:
    found = len(set(flagged.tolist()) & set(flipped.tolist()))
    return {
        "flagged": int(len(flagged)),
        "flipped_found": found,
        "precision": found / len(flagged) if len(flagged) else 0.0,
        "recall": found / len(flipped),
    }


def audit_option(probs: Any, noisy: Any, flipped: Any, seconds: float) -> dict[str, Any]:
    from newsclf.audit import find_label_issues

    start = time.perf_counter()
    issues = find_label_issues(noisy, probs)
    seconds += time.perf_counter() - start
    minutes = seconds / 60
    ours = score(issues.rows, flipped)
    top = score(issues.ranking()[: len(flipped)], flipped)
    return {
        "minutes": round(minutes, 3),
        "accuracy_vs_noisy_labels": float((probs.argmax(1) == noisy).mean()),
        "confident_learning": ours,
        "top_5_percent": top,
        "flipped_found_per_minute": round(ours["flipped_found"] / minutes, 1),
        "cleanlab": cleanlab_anchor(noisy, probs, flipped),
        "estimated_noise_share": float(
            (issues.joint.sum() - issues.joint.trace()) / issues.joint.sum()
        ),
    }


def cleanlab_anchor(noisy: Any, probs: Any, flipped: Any) -> dict[str, Any]:
    """cleanlab's find_label_issues on the same probabilities (AGPL: imported here only)."""
    import numpy as np

    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return {"skipped": "cleanlab is not installed (pip install cleanlab to compare)"}
    import cleanlab

    mask = find_label_issues(noisy, probs)
    return {"version": cleanlab.__version__, **score(np.flatnonzero(mask), flipped)}


def probabilities(
    option: str, texts: list[str], noisy: Any, folds: Any, cache: dict[str, Any]
) -> tuple[Any, float]:
    """One option's out-of-fold probabilities and the seconds they took (the embedding pass
    and the TF-IDF fits are done once and their time counted in every option using them)."""
    from newsclf.audit import crossfit
    from newsclf.audit.embeddings import embed

    if option == "both":
        (p1, s1), (p2, s2) = (
            probabilities(o, texts, noisy, folds, cache) for o in ("tfidf", "mean")
        )
        return (p1 + p2) / 2, s1 + s2
    if option in cache:
        return cache[option]
    start = time.perf_counter()
    if option == "tfidf":
        features = crossfit.tfidf_features(texts)
        probs = crossfit.cross_fit_features(features, noisy, folds, crossfit.TFIDF_C, 0, "saga")
    else:
        if "vectors" not in cache:
            t0 = time.perf_counter()
            cache["vectors"] = embed(texts)
            cache["embed_seconds"] = time.perf_counter() - t0
        vectors = getattr(cache["vectors"], option)
        t1 = time.perf_counter()
        probs = crossfit.cross_fit_features(vectors, noisy, folds, crossfit.EMBEDDING_C, 0)
        seconds = time.perf_counter() - t1 + cache["embed_seconds"]
        cache[option] = (probs, seconds)
        return cache[option]
    cache[option] = (probs, time.perf_counter() - start)
    return cache[option]


def fine_tune_estimate(texts: list[str], classes: int, folds: int, steps: int) -> dict[str, Any]:
    """k fine-tunings' cost from a measured step time: the default model, batch 32, the
    default recipe's budget on (k-1)/k of the rows (at least 500 steps; docs/recipe.md)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from newsclf.config import DEFAULT_MODEL
    from newsclf.training.model import resolve_model

    path = resolve_model(DEFAULT_MODEL)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = tok(texts[:32], truncation=True, max_length=96, padding=True, return_tensors="pt")
    labels = torch.zeros(32, dtype=torch.long)
    model.train()
    times = []
    for _ in range(steps + 1):  # the first step warms up and is not counted
        t0 = time.perf_counter()
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    step = sorted(times[1:])[len(times[1:]) // 2]
    rows = len(texts) * (folds - 1) // folds
    per_fold = max(500, 4 * rows // 32)  # the auto recipe's floor, or about 4 epochs
    return {
        "measured_step_seconds": round(step, 3),
        "steps_per_fold": per_fold,
        "estimated_minutes": round(folds * per_fold * step / 60, 1),
        "note": "training steps only (no validation or out-of-fold scoring): a lower bound",
    }


def run_set(name: str, args: argparse.Namespace, report: dict[str, Any], out: Path) -> None:
    from newsclf.audit.crossfit import fold_ids

    texts, labels, names = load_set(name, args.data_dir)
    noisy, flipped = flip(labels, len(names), args.seed)
    folds = fold_ids(noisy, args.folds, 0)
    entry = report["sets"].setdefault(name, {"rows": len(texts), "classes": len(names),
                                             "flipped": int(len(flipped)), "options": {}})  # fmt: skip
    cache: dict[str, Any] = {}
    for option in args.options:
        probs, seconds = probabilities(option, texts, noisy, folds, cache)
        entry["options"][option] = audit_option(probs, noisy, flipped, seconds)
        common.write_json(out, report)
        print(name, option, entry["options"][option], flush=True)
    if args.step_sample:
        entry["k_fine_tunings"] = fine_tune_estimate(
            texts, len(names), args.folds, args.step_sample
        )
        common.write_json(out, report)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or common.result_path("audit")
    report = {
        "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
        "machine": common.machine("cpu"),
        "noise": NOISE,
        "folds": args.folds,
        "sets": {},
    }
    for name in args.sets:
        run_set(name, args, report, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
