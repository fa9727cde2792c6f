"""The default recipe (`epochs: auto`, `max_length: auto`) against the old fixed one (2 epochs,
128 tokens) and the TF-IDF + linear SVM baseline, on real data sets newsclf was not tuned on.

    python benchmarks/bench_defaults.py                               # every set, both recipes
    python benchmarks/bench_defaults.py --sets banking77-10 agnews-200 --recipes default
    python -m benchmarks.bench_defaults --sets reuters --runs /tmp/panel

Each (set, recipe) is one `newsclf.train` with nothing but the data's own files, exactly what a
new user runs, scored on the set's own test split. The baseline is fitted on the same training
rows and scored on the same test rows (one fit per set). Every result is written to the JSON
(default benchmarks/results/defaults-<date>.json) as soon as it is done, and pairs already in
it are skipped, so the panel can be run in parts. The cuts (`banking77-10`: 10 rows per intent;
`agnews-200`: 200 rows) are drawn from their training files with seed 0 and keep the full test
splits. The data sets are read from ../shared/data (READMEs there: sources, licences).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

SHARED = common.ROOT.parent / "shared" / "data"
RECIPES = {"default": {}, "old": common.FIXED_RECIPE}
KEPT = ("accuracy", "macro_f1", "micro_f1", "samples_f1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    p.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--data-dir", type=Path, default=SHARED, help="holds the sets' directories")
    p.add_argument("--runs", type=Path, default=Path("runs/panel"), help="parent of the runs")
    p.add_argument("--out", type=Path, default=None, help="JSON (default results/defaults-...)")
    return p.parse_args(argv)


# --- the panel: each set as the data flags a user would pass ------------------------------


def _agnews(data_dir: Path, work: Path) -> dict[str, Any]:
    return {"data": "ag_news"}


def _agnews_200(data_dir: Path, work: Path) -> dict[str, Any]:
    """200 of the bundled training rows (text, label 0-3), and the canonical test split in the
    same shape (its label 1-4, title and description joined as the bundled rows are)."""
    import pandas as pd

    d = data_dir / "ag_news"
    rows = _cut_csv(d / "train_subset.csv.gz", work / "agnews-200.csv", 200)
    test = pd.read_csv(d / "test.csv.gz", header=None, names=["label", "title", "description"])
    test = pd.DataFrame({"text": test["title"] + " " + test["description"],
                         "label": test["label"] - 1})  # fmt: skip
    test.to_csv(work / "agnews-test.csv", index=False)
    return {"data": str(rows), "test_data": str(work / "agnews-test.csv")}


def _banking(data_dir: Path, work: Path) -> dict[str, Any]:
    d = data_dir / "banking77"
    return {"data": str(d / "train.csv.gz"), "test_data": str(d / "test.csv.gz"),
            "label_column": "category"}  # fmt: skip


def _banking_10(data_dir: Path, work: Path) -> dict[str, Any]:
    d = data_dir / "banking77"
    rows = _cut_csv(d / "train.csv.gz", work / "banking77-10.csv", 10, per_class="category")
    return {"data": str(rows), "test_data": str(d / "test.csv.gz"), "label_column": "category"}


def _reuters(data_dir: Path, work: Path) -> dict[str, Any]:
    from benchmarks.bench_multilabel import deduplicated

    d = data_dir / "reuters21578"
    for split in ("train", "test"):  # two rows name a label twice (bench_multilabel.py)
        deduplicated(d / f"{split}.jsonl.gz", work / f"reuters-{split}.jsonl")
    return {
        "data": str(work / "reuters-train.jsonl"),
        "test_data": str(work / "reuters-test.jsonl"),
    }


def _newsgroups(data_dir: Path, work: Path) -> dict[str, Any]:
    d = data_dir / "20newsgroups"
    return {"data": str(d / "train.csv.gz"), "test_data": str(d / "test.csv.gz")}


SETS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "agnews": _agnews,
    "agnews-200": _agnews_200,
    "banking77-10": _banking_10,
    "banking77": _banking,
    "reuters": _reuters,
    "20newsgroups": _newsgroups,
}


def _cut_csv(source: Path, target: Path, n: int, per_class: str | None = None) -> Path:
    """`n` rows (or `n` rows of each `per_class` value) drawn with seed 0, as a CSV."""
    import pandas as pd

    frame = pd.read_csv(source)
    if per_class is None:
        cut = frame.sample(n=n, random_state=0)
    else:
        cut = frame.groupby(per_class, group_keys=False).sample(n=n, random_state=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    cut.to_csv(target, index=False)
    return target


# --- one run, one baseline -----------------------------------------------------------------


def run_recipe(flags: dict[str, Any], recipe: str, name: str, runs: Path) -> dict[str, Any]:
    """Train (the test split scored at the end), and read back what the run says. A complete
    run of that name already in `runs` (a part cut short after its training) is read, not
    trained again: its `run_seconds` is then None."""
    from newsclf import TrainConfig, train

    run_dir, seconds = runs / name, None
    if not (run_dir / "test_metrics.json").is_file():
        cfg = TrainConfig.from_dict({**flags, **RECIPES[recipe], "output_dir": str(runs),
                                     "name": name, "overwrite": True, "quiet": True,
                                     "visuals": False})  # fmt: skip
        start = time.perf_counter()
        run_dir = train(cfg).run_dir
        seconds = round(time.perf_counter() - start, 1)
    return {"recipe": recipe, **read_run(run_dir), "run_seconds": seconds}


def read_run(run_dir: Path) -> dict[str, Any]:
    """What a finished run directory says: the recipe chosen, the history, the test scores."""
    import yaml

    from newsclf.rundir import read_optional

    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    test = json.loads((run_dir / "test_metrics.json").read_text(encoding="utf-8"))
    rows = history["epochs"]
    return {
        "resolved": {k: config.get(k) for k in ("epochs", "max_length", "eval_every", "patience")},
        "notes": (read_optional(run_dir, "data.json") or {}).get("notes", []),
        "best_epoch": history["best_epoch"],
        "evaluations": len(rows),
        "epochs_trained": rows[-1]["epoch"] if rows else 0,
        "steps": sum(row["steps"] for row in rows),
        "training_seconds": round(sum(row["seconds"] for row in rows), 1),
        "test": {k: test[k] for k in KEPT if k in test},
        "classes_never_predicted": never_predicted(test),
    }


def never_predicted(test: dict[str, Any]) -> list[str]:
    """The classes never predicted on test: a confusion column of 0 (single-label), or a tag
    with no predicted positive in its 2x2 matrix (multi-label; only tags the test set has)."""
    names = test.get("label_names") or []
    if "confusion_matrices" in test:
        tags = test["confusion_matrices"]
        return [n for n in names if sum(tags[n][1]) > 0 and tags[n][0][1] + tags[n][1][1] == 0]
    matrix = test.get("confusion_matrix")
    if not matrix:
        return []
    return [name for j, name in enumerate(names) if sum(row[j] for row in matrix) == 0]


def run_baseline(flags: dict[str, Any], runs: Path) -> dict[str, Any]:
    """TF-IDF + linear SVM on the same training rows, scored on the same test rows."""
    from newsclf import TrainConfig, load_data
    from newsclf.report.baseline import fit_baseline

    data = load_data(TrainConfig.from_dict({**flags, "output_dir": str(runs), "quiet": True}))
    train, test = data.splits["train"], data.splits["test"]
    base = fit_baseline(train["text"], train["label"], test["text"], test["label"],
                        data.label_names).metrics  # fmt: skip
    names = data.label_names
    return {
        "rows": {split: len(ds) for split, ds in data.splits.items()},
        "classes": len(names),
        "task": data.task,
        "test": {k: base[k] for k in KEPT if k in base},
        "classes_never_predicted": never_predicted(base),
        "train_seconds": base["train_seconds"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = args.out or common.result_path("defaults")
    report = json.loads(out.read_text()) if out.is_file() else {"sets": {}}
    report.update(command=common.command_line(__file__, sys.argv[1:] if argv is None else argv),
                  machine=common.machine())  # fmt: skip
    work = args.runs / "data"  # the cuts and the deduplicated Reuters copies
    for name in args.sets:
        flags = SETS[name](args.data_dir, work)
        entry = report["sets"].setdefault(name, {"recipes": {}})
        entry["flags"] = flags
        if "baseline" not in entry:
            entry["baseline"] = run_baseline(flags, args.runs)
            common.write_json(out, report)
        for recipe in args.recipes:
            if recipe in entry["recipes"]:
                print(f"{name} / {recipe}: already in {out}", flush=True)
                continue
            entry["recipes"][recipe] = run_recipe(flags, recipe, f"{name}-{recipe}", args.runs)
            common.write_json(out, report)
            print(f"{name} / {recipe}: {entry['recipes'][recipe]['test']} "
                  f"(baseline {entry['baseline']['test']})", flush=True)  # fmt: skip
    print(table(report))
    return report


def table(report: dict[str, Any]) -> str:
    """The panel as a Markdown table: main metric and macro-F1 of each recipe and the baseline."""
    lines = ["| set | rows (train/val/test) | classes | recipe | main metric | macro-F1 | "
             "classes never predicted | training s |", "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name, entry in report["sets"].items():
        base = entry["baseline"]
        main = "micro_f1" if base["task"] == "multi-label" else "accuracy"
        rows = "/".join(f"{n:,}" for n in base["rows"].values())
        results = [(r, v["test"], len(v["classes_never_predicted"]), f"{v['training_seconds']:,.0f}")
                   for r, v in entry["recipes"].items()]  # fmt: skip
        results.append(("TF-IDF baseline", base["test"], len(base["classes_never_predicted"]),
                        f"{base['train_seconds']:.1f}"))  # fmt: skip
        for recipe, test, never, seconds in results:
            lines.append(f"| {name} | {rows} | {base['classes']} | {recipe} | "
                         f"{main} {test[main]:.4f} | {test['macro_f1']:.4f} | {never} | {seconds} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
