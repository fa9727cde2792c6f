"""`newsclf tune` against the default recipe, on the same rows: validation and test accuracy of
both, and the time each took.

    python benchmarks/bench_tune.py --trials 8
    python benchmarks/bench_tune.py --trials 8 --set max_train_samples=2000
    python -m benchmarks.bench_tune --trials 4 --set max_train_samples=500,epochs=1

The default recipe is `newsclf train` with the same base config; the search is `newsclf tune
--trials N` around it (the default space: learning rate, batch size, epochs, warmup, weight
decay), which looks at validation only and scores its best trial on test once at the end.
Writes benchmarks/results/tune-<date>.json and prints a summary.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=8, help="trials of the search")
    p.add_argument("--set", action="append", default=[], help="base config: KEY=VALUE,...")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="parent of the runs")
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/...)")
    return p.parse_args(argv)


def _scores(run_dir: Path, validation: float, seconds: float) -> dict[str, Any]:
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    return {
        "run_dir": str(run_dir),
        "val_accuracy": validation,
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "seconds": round(seconds, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from newsclf import TrainConfig, train
    from newsclf.search import tune

    base = {
        "output_dir": str(args.runs),
        "quiet": True,
        "overwrite": True,
        **common.pairs(args.set),
    }
    start = time.perf_counter()
    default = train(TrainConfig.from_dict({**base, "name": "tune-bench-default"}))
    default_scores = _scores(default.run_dir, default.best_score, time.perf_counter() - start)
    shutil.rmtree(args.runs / "tune-bench-search", ignore_errors=True)  # a new study each time
    start = time.perf_counter()
    search = tune(TrainConfig.from_dict({**base, "name": "tune-bench-search"}), args.trials)
    searched = _scores(search.best_run, search.best_value, time.perf_counter() - start)
    return {
        "base": base,
        "trials": search.trials,
        "best_params": search.best_params,
        "default": default_scores,
        "tune": searched,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = {
        "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
        "machine": common.machine(),
        **run(args),
    }
    path = common.write_json(args.out or common.result_path("tune"), report)
    d, t = report["default"], report["tune"]
    print(
        f"default recipe: val {d['val_accuracy']:.4f} test {d['test_accuracy']:.4f} "
        f"({d['seconds']:.0f} s); tune --trials {args.trials}: val {t['val_accuracy']:.4f} "
        f"test {t['test_accuracy']:.4f} ({t['seconds']:.0f} s). Written to {path}"
    )
    return report


if __name__ == "__main__":
    main()
