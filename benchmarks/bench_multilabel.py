"""Multi-label on a real news set: Reuters-21578 (ModApte, 90 categories), newsclf's recipe
against the one-vs-rest TF-IDF + linear SVM baseline on the same rows.

    python benchmarks/bench_multilabel.py                          # the default recipe
    python benchmarks/bench_multilabel.py --set epochs=10,learning_rate=3e-4 --name tuned
    python -m benchmarks.bench_multilabel --data-dir ../shared/data/reuters21578

It runs `newsclf train` on train.jsonl.gz (validation carved from it by iterative
stratification, seed 42) with test.jsonl.gz as the test split, then reads back what the run
wrote. newsclf refuses a row that names a label twice; two rows of this extraction do (one in
each split: 'corn' twice, from the original markup), so the script writes a copy with each
row's labels kept once, in order, and reports how many rows it changed. Then it reads back the test metrics at the thresholds tuned on validation, and the baseline's
(baseline_metrics.json, fitted on the same training rows, scored on the same test rows).
Writes benchmarks/results/reuters-<date>[-<name>].json and prints a summary.

The data is research-use only (README beside it) and is not part of the package.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

DATA_DIR = common.ROOT.parent / "shared" / "data" / "reuters21578"
KEPT = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="train.jsonl.gz, test.jsonl.gz")
    p.add_argument("--set", action="append", default=[], help="config overrides: KEY=VALUE,...")
    p.add_argument("--name", default="default", help="the recipe's name, in the output file")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="parent of the run directory")
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/...)")
    return p.parse_args(argv)


def deduplicated(source: Path, target: Path) -> int:
    """Copy a JSONL.gz file with each row's labels kept once, in order; return how many rows
    named a label more than once."""
    import gzip
    import json

    changed = 0
    with gzip.open(source, "rt", encoding="utf-8") as src, target.open("w") as out:
        for line in src:
            row = json.loads(line)
            once = list(dict.fromkeys(row["labels"]))
            changed += once != row["labels"]
            out.write(json.dumps({**row, "labels": once}) + "\n")
    return changed


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Train and score the recipe; return what the run directory says."""
    from newsclf import TrainConfig, train
    from newsclf.rundir import read_optional

    fixed = {
        split: deduplicated(args.data_dir / f"{split}.jsonl.gz", workdir / f"{split}.jsonl")
        for split in ("train", "test")
    }
    overrides = common.pairs(args.set)
    cfg = TrainConfig.from_dict(
        {
            "data": str(workdir / "train.jsonl"),
            "test_data": str(workdir / "test.jsonl"),
            "output_dir": str(args.runs),
            "name": f"reuters-{args.name}",
            "overwrite": True,
            "quiet": True,
            **overrides,
        }
    )
    start = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - start
    baseline = read_optional(result.run_dir, "baseline_metrics.json") or {}
    data = read_optional(result.run_dir, "data.json") or {}
    return {
        "recipe": {"name": args.name, **overrides},
        "run_dir": str(result.run_dir),
        "rows": {s: v["rows"] for s, v in data.get("splits", {}).items()},
        "rows_with_a_repeated_label": fixed,
        "classes": len(data.get("label_names", [])),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "test": {k: result.test_metrics[k] for k in KEPT},
        "thresholds": sorted(set(result.test_metrics["thresholds"].values())),
        "baseline": {"model": baseline.get("model"), **{k: baseline.get(k) for k in KEPT}},
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import tempfile

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reuters-") as workdir:
        report = {
            "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
            "machine": common.machine(),
            **run(args, Path(workdir)),
        }
    suffix = "" if args.name == "default" else f"-{args.name}"
    path = common.write_json(args.out or common.result_path("reuters", suffix), report)
    test, base = report["test"], report["baseline"]
    print(
        f"Reuters-21578 ({report['classes']} categories, {report['rows']}): newsclf "
        f"micro-F1 {test['micro_f1']:.4f} macro-F1 {test['macro_f1']:.4f}; baseline micro-F1 "
        f"{base['micro_f1']:.4f} macro-F1 {base['macro_f1']:.4f}; {report['seconds']:.0f} s. "
        f"Written to {path}"
    )
    return report


if __name__ == "__main__":
    main()
