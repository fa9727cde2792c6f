r"""Every speed benchmark in one process, on the same model and texts, into one report: the
training loops (bench_train.py), then inference on the model newsclf's loop saved
(bench_infer.py), then with --onnx its ONNX exports (bench_onnx.py). Method: each module's
docstring.

    python benchmarks/bench_speed.py                  # CPU: 4,500 train rows, the 7,600 test rows
    python benchmarks/bench_speed.py --device cuda    # the same on a GPU
    python benchmarks/bench_speed.py --quick          # smoke test on small subsets
    python benchmarks/bench_speed.py --trained runs/demo/best_model \
        --skip train_tutorial train_newsclf --infer-rows 2000 --int8 --onnx --onnx-accuracy \
        --onnx-grid fp32:1:32 int8:1:32 int8:2:8 int8:2:64 --cold-start 3

`python -m benchmarks.bench_speed` works the same. Writes a JSON file (default
benchmarks/results/<device>-<date>.json) and prints a table.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import bench_infer, bench_onnx, bench_train, harness  # noqa: E402
from benchmarks.harness import Bench, Phase  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = harness.parser(__doc__)
    bench_train.add_args(p)
    bench_infer.add_args(p)
    p.add_argument(
        "--onnx", action="store_true",
        help="also time ONNX Runtime fp32 and int8 (implied by the three flags below)",
    )  # fmt: skip
    bench_onnx.add_args(p)
    args = harness.parse(p, argv)
    args.onnx = args.onnx or bool(args.onnx_grid) or args.onnx_accuracy or args.cold_start > 0
    return args


def phases(bench: Bench, args: argparse.Namespace) -> dict[str, Phase]:
    """Training, inference, ONNX, then newsclf inference at other batch sizes and compiled:
    the order the phases have always run in (torch.compile last, its state stays)."""
    out = {**bench_train.phases(bench, args), **bench_infer.phases(bench, args)}
    if args.onnx:
        out.update(bench_onnx.phases(bench, args))
    return {**out, **bench_infer.batch_phases(bench, args)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    summaries = [bench_infer.summary, bench_train.summary]
    return harness.run(args, lambda b: phases(b, args), summaries, __file__)


if __name__ == "__main__":
    main()
