r"""ONNX Runtime on one saved model: the export, inference speed, accuracy against PyTorch, and
the start-up of `newsclf predict` as a new process.

    python benchmarks/bench_onnx.py --trained runs/demo/best_model --infer-rows 2000 \
        --onnx-accuracy --onnx-grid fp32:1:32 int8:1:32 int8:2:8 int8:2:64 --cold-start 3
    python -m benchmarks.bench_onnx --trained runs/demo/best_model --quick

`export_onnx`: the model exported by `newsclf export`, fp32 and --int8, into --workdir.
`infer_onnx_fp32`, `infer_onnx_int8`: Classifier on ONNX Runtime at its default threads and
batch size; --onnx-grid adds phases at other thread counts and batch sizes. --onnx-accuracy
scores PyTorch fp32 and both exports on the whole test split; --cold-start N times
`newsclf predict DIR "text"` as a fresh process (start to exit, and its peak RSS) for the
PyTorch and both ONNX directories.

Writes a JSON file (default benchmarks/results/<device>-<date>-onnx.json) and prints a table.
For speed against `transformers.pipeline` and PyTorch in the same process, run bench_speed.py
with --onnx (these phases after the inference ones).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common, harness  # noqa: E402
from benchmarks.bench_infer import chunks, infer_result, timed  # noqa: E402
from benchmarks.harness import Bench, Phase  # noqa: E402

# `newsclf predict` in a fresh interpreter that prints its own peak RSS as it exits: a forked
# child's ru_maxrss would count the (large) benchmark process it was forked from. The reading
# comes after the prediction, with the same parser as every other peak here.
COLD_START = f"""
import sys
from newsclf.cli import main
code = main(sys.argv[1:])
sys.path.insert(0, {str(common.ROOT)!r})
from benchmarks.common import peak_rss_mib
print(peak_rss_mib(), file=sys.stderr)
sys.exit(code)
"""


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--onnx-grid", nargs="*", default=[], metavar="KIND:THREADS:BATCH",
        help="extra ONNX phases, e.g. fp32:1:32 int8:2:64",
    )  # fmt: skip
    p.add_argument(
        "--onnx-accuracy", action="store_true",
        help="PyTorch fp32 vs ONNX fp32 vs int8 accuracy on every test row",
    )  # fmt: skip
    p.add_argument(
        "--cold-start", type=int, default=0, metavar="N",
        help="time `newsclf predict DIR text` N times per model dir as a new process",
    )  # fmt: skip


def phases(bench: Bench, args: argparse.Namespace) -> dict[str, Phase]:
    out: dict[str, Phase] = {
        "export_onnx": lambda: export_onnx(bench),
        "infer_onnx_fp32": lambda: infer_onnx(bench, "fp32"),
        "infer_onnx_int8": lambda: infer_onnx(bench, "int8"),
    }
    for item in args.onnx_grid:
        kind, threads, batch = item.split(":")
        out[f"infer_onnx_{kind}_t{threads}_b{batch}"] = (
            lambda k=kind, t=int(threads), b=int(batch): infer_onnx(bench, k, t, b)
        )
    if args.onnx_accuracy:
        out["onnx_accuracy"] = lambda: onnx_accuracy(bench)
    if args.cold_start:
        out["cold_start"] = lambda: cold_start(bench, args.cold_start)
    return out


def export_onnx(bench: Bench) -> dict[str, Any]:
    """`newsclf export` of the model under test, fp32 and int8, into the workdir; the sizes on
    disk of those and of the PyTorch weights."""
    from newsclf.export import export

    out = {}
    for kind in ("fp32", "int8"):
        target = bench.workdir / f"onnx-{kind}"
        t0 = time.perf_counter()
        info = export(bench.trained(), target, int8=kind == "int8", overwrite=True)
        out[kind] = {
            "export_s": round(time.perf_counter() - t0, 1),
            "model_mib": round(info["size_bytes"] / 2**20, 1),
            "max_abs_prob_diff_vs_pytorch": info["max_abs_prob_diff_vs_pytorch"],
        }
        bench.onnx_dirs[kind] = target
    weights = Path(bench.trained()) / "model.safetensors"
    return {"pytorch_model_mib": round(weights.stat().st_size / 2**20, 1), **out}


def infer_onnx(
    bench: Bench, kind: str, threads: int | None = None, batch: int | None = None
) -> dict[str, Any]:
    """newsclf's Classifier on an export (ONNX Runtime): length-sorted batches, no padding
    beyond each batch's longest text."""
    import numpy as np

    from newsclf.inference import Classifier
    from newsclf.inference.onnx_backend import DEFAULT_BATCH_SIZE, DEFAULT_THREADS

    clf = Classifier.from_onnx(bench.onnx_dirs[kind], threads=threads)
    texts, batch = bench.infer_texts, batch or DEFAULT_BATCH_SIZE
    result, seconds = timed(bench, lambda: clf.infer(texts, batch_size=batch).predicted.tolist())
    order = np.argsort(bench.infer_lengths, kind="stable").tolist()
    setting = (
        f"ONNX Runtime {kind}, {threads or DEFAULT_THREADS} threads, batch {batch}, length-sorted"
    )
    return infer_result(bench, result, seconds, chunks(order, batch), 1, setting)


def onnx_accuracy(bench: Bench) -> dict[str, Any]:
    """Test accuracy of PyTorch fp32 and both exports on every test row, and how often the
    exports' predictions equal PyTorch's."""
    import numpy as np

    from newsclf.inference import Classifier

    texts, labels = bench.test_texts, bench.test_labels
    torch_clf = Classifier.from_pretrained(bench.trained(), device="cpu", precision="fp32")
    reference = torch_clf.infer(texts).predicted
    out = {"rows": len(texts), "pytorch_fp32": round(float((reference == labels).mean()), 5)}
    for kind, path in bench.onnx_dirs.items():
        predicted = Classifier.from_onnx(path).infer(texts).predicted
        out[f"onnx_{kind}"] = round(float((predicted == labels).mean()), 5)
        out[f"onnx_{kind}_same_as_pytorch"] = round(float(np.mean(predicted == reference)), 5)
    out["int8_minus_fp32_points"] = round(100 * (out["onnx_int8"] - out["pytorch_fp32"]), 2)
    return out


def cold_start(bench: Bench, repeats: int) -> dict[str, Any]:
    """`newsclf predict DIR "text"` as a new process, for each model directory: wall seconds
    from start to exit (best and median of `repeats`) and the child's peak RSS."""
    import statistics
    import subprocess

    dirs = {"pytorch": Path(bench.trained()), **bench.onnx_dirs}
    out = {}
    for name, path in dirs.items():
        cmd = [sys.executable, "-c", COLD_START, "predict", str(path), "Stocks rally on Wall St"]
        times, peaks = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t0)
            peaks.append(float(done.stderr.strip().splitlines()[-1]))
        out[name] = {
            "best_s": round(min(times), 2),
            "median_s": round(statistics.median(times), 2),
            "rss_peak_mib": round(max(peaks), 1),
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    needs = "the saved model to export and time"
    args = harness.parse_args(__doc__, add_args, argv, needs_trained=needs)
    return harness.run(args, lambda b: phases(b, args), [], __file__, "-onnx")


if __name__ == "__main__":
    main()
