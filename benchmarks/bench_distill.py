r"""`newsclf distill`: students of a finished run, their test scores, and their speed against the
teacher and `transformers.pipeline` in one process.

    python benchmarks/bench_distill.py train --teacher runs/demo --layers 3 2
    python benchmarks/bench_distill.py train --teacher runs/demo --layers 3 --alpha 0 1
    python benchmarks/bench_distill.py speed --teacher runs/demo --rows 1000

`train`: one distillation per (layers, alpha), each `newsclf.distill(teacher, ...)` with the
teacher's own config and data (visuals off: the t-SNE is not part of a student's cost), its
wall-clock seconds (teacher scoring, training, calibration and the test) and its test scores.
Runs land in --workdir (default runs/bench-distill/) and are kept for `speed`.

`speed`: on the first --rows test texts of the teacher's data, in one process: `pipeline`
("text-classification", default batch size, truncating at the teacher's max length) on the
teacher; newsclf's Classifier (PyTorch, default precision and batch size) on the teacher and
each student run found in --workdir; and each model exported by `newsclf export --int8`, on
ONNX Runtime at its defaults. Each timing is the fastest of --repeats. Also each model's size on
disk. Results go into --out (JSON, default benchmarks/results/distill-<teacher>-<date>.json),
written after each run or model, and a table is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("phase", choices=("train", "speed"))
    p.add_argument("--teacher", type=Path, required=True, help="the teacher's run directory")
    p.add_argument("--layers", type=int, nargs="*", default=[3, 2])
    p.add_argument("--alpha", type=float, nargs="*", default=[0.5])
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more settings")
    p.add_argument("--rows", type=int, default=1000, help="test texts timed by `speed`")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench-distill"))
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def student_name(teacher: Path, layers: int, alpha: float, temperature: float) -> str:
    return f"{teacher.name}-{layers}-layers-a{alpha:g}-t{temperature:g}"


def train_phase(args: argparse.Namespace, report: dict[str, Any], out: Path) -> None:
    from newsclf import distill

    done = {r["name"] for r in report["students"]}
    for layers in args.layers:
        for alpha in args.alpha:
            name = student_name(args.teacher, layers, alpha, args.temperature)
            if name in done:
                continue
            start = time.perf_counter()
            result = distill(
                args.teacher, student_layers=layers, distill_alpha=alpha,
                distill_temperature=args.temperature, name=name, output_dir=str(args.workdir),
                overwrite=True, visuals=False, quiet=True, **common.pairs(args.set),
            )  # fmt: skip
            seconds = time.perf_counter() - start
            row = {"name": name, "layers": layers, "alpha": alpha,
                   "temperature": args.temperature, "seconds": round(seconds, 1),
                   "epochs": math.ceil(max(r["epoch"] for r in result.history)),
                   "best_epoch": result.best_epoch, **scores(result.test_metrics)}  # fmt: skip
            report["students"].append(row)
            common.write_json(out, report)
            print(json.dumps(row), flush=True)


def scores(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "macro_f1", "micro_f1", "ece")
    return {k: round(metrics[k], 5) for k in keys if isinstance(metrics.get(k), (int, float))}


def speed_phase(args: argparse.Namespace, report: dict[str, Any], out: Path) -> None:
    from transformers import pipeline

    from newsclf import Classifier, TrainConfig, load_data
    from newsclf.export import export

    cfg = TrainConfig.from_yaml(args.teacher / "config.yaml", max_test_samples=None)
    test = load_data(cfg).splits["test"]
    texts, labels = test["text"][: args.rows], test["label"][: args.rows]
    models = {"teacher": args.teacher / "best_model"}
    for run in sorted(args.workdir.glob(f"{args.teacher.name}-*-layers-*")):
        models[run.name] = run / "best_model"
    pipe = pipeline("text-classification", model=str(models["teacher"]), device=-1)
    label2id = pipe.model.config.label2id
    rows = {"pipeline (teacher)": timed(
        lambda: [label2id[r["label"]] for r in pipe(texts, truncation=True,
                                                    max_length=cfg.max_length)],
        labels, args.repeats)}  # fmt: skip
    for name, path in models.items():
        clf = Classifier.from_pretrained(path)
        rows[f"{name} PyTorch"] = timed(lambda c=clf: c.infer(texts).predicted.tolist(),
                                        labels, args.repeats)  # fmt: skip
        onnx_dir = args.workdir / "onnx" / name
        export(path, onnx_dir, int8=True, overwrite=True)
        clf = Classifier.from_onnx(onnx_dir)
        rows[f"{name} ONNX int8"] = timed(lambda c=clf: c.infer(texts).predicted.tolist(),
                                          labels, args.repeats)  # fmt: skip
        rows[f"{name} PyTorch"]["mib"] = mib(path / "model.safetensors")
        rows[f"{name} ONNX int8"]["mib"] = mib(onnx_dir / "model.onnx")
        report["speed"] = {"rows": len(texts), "results": rows}
        common.write_json(out, report)
    base = rows["pipeline (teacher)"]["texts_per_s"]
    for row in rows.values():
        row["x_pipeline"] = round(row["texts_per_s"] / base, 2)
    common.write_json(out, report)


def timed(fn: Any, labels: list[int], repeats: int) -> dict[str, Any]:
    best, predicted = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        predicted = fn()
        best = min(best, time.perf_counter() - start)
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    return {"texts_per_s": round(len(labels) / best, 1), "accuracy": round(accuracy, 5)}


def mib(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    day = time.strftime("%Y-%m-%d")
    out = args.out or RESULTS / f"distill-{args.teacher.name}-{day}.json"
    report = json.loads(out.read_text()) if out.exists() else {
        "benchmark": "distill", "teacher": str(args.teacher), "machine": common.machine(),
        "students": [],
    }  # fmt: skip
    report.setdefault("commands", []).append(common.command_line(__file__, sys.argv[1:]))
    if args.phase == "train":
        train_phase(args, report, out)
    else:
        speed_phase(args, report, out)
    print(json.dumps({k: report[k] for k in ("students", "speed") if k in report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
