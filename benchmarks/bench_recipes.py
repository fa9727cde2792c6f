"""Accuracy recipes: named settings x seeds, each trained on the bundled AG News rows and scored
on the validation split only (the test split is never scored here).

    python benchmarks/bench_recipes.py                         # every setting, seeds 42 43 44
    python benchmarks/bench_recipes.py --settings baseline ema --seeds 42
    python -m benchmarks.bench_recipes --list                  # the settings and their overrides
    python benchmarks/bench_recipes.py --table                 # the table of what is done so far

Each run is what `newsclf train --seed S <overrides> --no-visuals` does up to the end of `fit`
(the same data, seed, model and loop; checked: the same history.json), without the test split.
The seed also draws the validation carve (500 of the 5,000 rows, stratified), so each seed is
scored on its own validation rows, as a user with that seed would be; settings are compared on
the same three carves. The JSON result (default benchmarks/results/recipes-<date>-<cpu>.json) is
written after every run, and runs already in it are skipped: a stopped sweep continues where it
stopped. The table: best-epoch validation accuracy per setting, mean, min-max and std over
seeds, and the mean difference from `baseline` on the same seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

# Each setting: TrainConfig overrides on top of the defaults (`newsclf train` as `make demo`).
SETTINGS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # Alone.
    "llrd0.9": {"layer_lr_decay": 0.9},
    "head_lr10": {"head_lr_multiplier": 10.0},
    "cosine": {"lr_schedule": "cosine"},
    "warmup0.1": {"warmup_ratio": 0.1},
    "label_smoothing0.1": {"label_smoothing": 0.1},
    "rdrop1": {"rdrop_alpha": 1.0},
    "ema0.99": {"ema_decay": 0.99},
    "swa1": {"swa_epochs": 1},
    "msd5": {"multi_sample_dropout": 5},
    "max_length256": {"max_length": 256},
    "epochs3": {"epochs": 3},
    "epochs4_patience1": {"epochs": 4, "patience": 1},
    "lr2e-4": {"learning_rate": 2e-4},
    "description_only": {"text_column": "description"},
    # Combined: the best alone on validation (msd5, swa1, ema0.99), with label smoothing.
    "msd5+swa1": {"multi_sample_dropout": 5, "swa_epochs": 1},
    "msd5+swa1+ls0.1": {"multi_sample_dropout": 5, "swa_epochs": 1, "label_smoothing": 0.1},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--settings", nargs="*", default=None, help="names (default: all, in order)")
    p.add_argument("--seeds", nargs="*", type=int, default=[42, 43, 44])
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE",
        help="TrainConfig overrides for every run (a smoke test: max_train_samples=200)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", type=Path, default=None, help="JSON result (default: dated, by CPU)")
    p.add_argument("--workdir", type=Path, default=None, help="where runs are trained")
    p.add_argument("--list", action="store_true", help="print the settings and exit")
    p.add_argument("--table", action="store_true", help="print the table of --out and exit")
    p.add_argument("--markdown", action="store_true", help="the same as a Markdown table")
    return p.parse_args(argv)


def default_out() -> Path:
    cpu = re.sub(r"[^a-z0-9]+", "-", common.machine()["cpu"].lower()).strip("-")
    return common.result_path("recipes", f"-{cpu}")


def config(name: str, seed: int, extra: dict[str, Any], output_dir: Path) -> Any:
    from newsclf.config import TrainConfig

    values = {**common.FIXED_RECIPE, **SETTINGS[name], **extra, "seed": seed}
    return TrainConfig(
        output_dir=str(output_dir), name=f"{name}-{seed}", quiet=True, visuals=False, **values
    ).validate()


class Data:
    """The prepared data of each seed (the seed draws the validation carve), loaded once."""

    def __init__(self) -> None:
        self.cache: dict[tuple, Any] = {}

    def get(self, cfg: Any) -> Any:
        from newsclf.data import load_data

        key = (cfg.seed, cfg.max_train_samples, cfg.max_eval_samples, cfg.max_test_samples)
        if key not in self.cache:
            self.cache[key] = load_data(cfg)
        return self.cache[key]


def train_one(cfg: Any, data: Any, keep: Any = None) -> dict[str, Any]:
    """`newsclf train` up to the end of `fit`: seed, model, tokenized rows, the loop.
    `keep(run_dir)`, if given, reads what it needs from the run (its best_model/) before the
    run is deleted; what it returns is the result's "kept"."""
    from accelerate.utils import set_seed

    from newsclf.data import tokenize
    from newsclf.quiet import quiet_libraries
    from newsclf.training import build_model, fit, load_tokenizer

    set_seed(cfg.seed)
    with quiet_libraries("datasets", "transformers"):
        tokenizer = load_tokenizer(cfg.model)
        model = build_model(cfg.model, data.label_names)
        train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True)
    start = time.perf_counter()
    try:
        with quiet_libraries("datasets", "transformers"):
            history = fit(cfg, model, tokenizer, train_set, data, run_dir).to_dict()
        seconds = round(time.perf_counter() - start, 1)
        kept = keep(run_dir) if keep is not None else None
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    best = next(r for r in history["epochs"] if r["epoch"] == history["best_epoch"])
    return {
        "best_epoch": history["best_epoch"],
        "val_accuracy": best["val_accuracy"],
        "val_f1": best["val_f1"],
        "epochs_run": len(history["epochs"]),
        "seconds": seconds,
        "history": history,
        **({"kept": kept} if kept is not None else {}),
    }


def summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per setting, in the order first run: best-epoch validation accuracy (%) over its seeds,
    and its mean difference from the baseline on the seeds both have."""
    runs = report["runs"]
    base = {r["seed"]: r["val_accuracy"] for r in runs if r["setting"] == "baseline"}
    out = []
    for name in dict.fromkeys(r["setting"] for r in runs):
        rows = [r for r in runs if r["setting"] == name]
        acc = [r["val_accuracy"] * 100 for r in rows]
        paired = [(r["val_accuracy"] - base[r["seed"]]) * 100 for r in rows if r["seed"] in base]
        out.append({
            "setting": name, "overrides": rows[0]["overrides"], "seeds": [r["seed"] for r in rows],
            "mean": statistics.mean(acc), "min": min(acc), "max": max(acc),
            "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "vs_baseline": statistics.mean(paired) if paired else None,
            "best_epochs": [r["best_epoch"] for r in rows],
            "seconds": statistics.mean(r["seconds"] for r in rows),
            "command": rows[0].get("command")
            or f"python benchmarks/bench_recipes.py --settings {name}",
        })  # fmt: skip
    return out


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{'setting':<26} {'seeds':>5} {'val mean':>8} {'min-max':>13} {'std':>5} "
        f"{'vs base':>7} {'epochs':>6} {'s/run':>6}"
    ]
    for s in summary(report):
        delta = "-" if s["vs_baseline"] is None else f"{s['vs_baseline']:+.2f}"
        lines.append(
            f"{s['setting']:<26} {len(s['seeds']):>5} {s['mean']:>8.2f} "
            f"{s['min']:>6.2f}-{s['max']:<6.2f} {s['std']:>5.2f} {delta:>7} "
            f"{','.join(map(str, s['best_epochs'])):>6} {s['seconds']:>6.0f}"
        )
    return "\n".join(lines)


def flags(overrides: dict[str, Any]) -> str:
    """The `newsclf train` flags of a setting."""
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items()) or "(none)"


def markdown(report: dict[str, Any]) -> str:
    """The table of docs/accuracy.md: every setting, the flags and the command behind it."""
    lines = [
        "| setting | `newsclf train` flags | seeds | val acc mean | min-max | std | vs baseline "
        "| best epochs | s/run (1 thread) | reproduce |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary(report):
        delta = "-" if s["vs_baseline"] is None else f"{s['vs_baseline']:+.2f}"
        lines.append(
            f"| {s['setting']} | `{flags(s['overrides'])}` | {len(s['seeds'])} | "
            f"{s['mean']:.2f}% | {s['min']:.2f}-{s['max']:.2f} | {s['std']:.2f} | {delta} | "
            f"{','.join(map(str, s['best_epochs']))} | {s['seconds']:.0f} | "
            f"`{s['command']}` |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, overrides in SETTINGS.items():
            print(f"{name:<26} {overrides}")
        return 0
    out = args.out or default_out()
    report = json.loads(out.read_text()) if out.exists() else None
    if args.table or args.markdown:
        print((markdown if args.markdown else table)(report) if report else f"no results in {out}")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    names = args.settings or list(SETTINGS)
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        sys.exit(f"unknown setting(s) {unknown}; --list shows them")
    extra = common.pairs(args.set)
    report = report or {
        "benchmark": "recipes",
        "machine": common.machine(),
        "command": common.command_line(__file__, list(sys.argv[1:] if argv is None else argv)),
        "set": extra,
        "runs": [],
    }
    if report.get("set", {}) != extra:
        sys.exit(f"{out} holds runs with --set {report.get('set')}; use another --out")
    done = {(r["setting"], r["seed"]) for r in report["runs"]}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-recipes-"))
    data = Data()
    for name in names:
        for seed in args.seeds:
            if (name, seed) in done:
                continue
            cfg = config(name, seed, extra, workdir)
            print(f"{name} seed {seed}: {SETTINGS[name]}", flush=True)
            result = train_one(cfg, data.get(cfg))
            report["runs"].append(
                {"setting": name, "overrides": SETTINGS[name], "seed": seed, **result}
            )
            common.write_json(out, report)
            print(
                f"  val acc {result['val_accuracy']:.4f} (epoch {result['best_epoch']}), "
                f"{result['seconds']:.0f} s",
                flush=True,
            )
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
