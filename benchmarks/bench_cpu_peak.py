"""What this CPU's matrix multiply reaches: the ceiling that inference and training TFLOP/s are
measured against.

    python benchmarks/bench_cpu_peak.py            # fp32 and bf16 torch.mm, ONNX Runtime int8

Times square matrix products large enough to be compute-bound (`--size`, default 2048) with
torch's default threads, the fastest of `--repeats`. fp32 and bf16 use `torch.mm`; int8 uses
ONNX Runtime's `MatMulInteger` (what `newsclf export --int8` runs on). FLOPs count 2*n^3 per
product (int8: integer operations). Writes benchmarks/results/cpu-peak-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path)
    return p.parse_args(argv)


def best_seconds(run, repeats: int) -> float:
    run()  # first call: allocation and kernel selection out of the clock
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_tflops(dtype_name: str, n: int, repeats: int) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b), repeats) / 1e12


def onnx_int8_tops(n: int, repeats: int) -> float:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    graph = helper.make_graph(
        [node],
        "mm",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n]),
            helper.make_tensor_value_info("b", TensorProto.INT8, [n, n]),
        ],  # fmt: skip
        [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mm.onnx"
        onnx.save(model, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8),
             "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}  # fmt: skip
    return 2 * n**3 / best_seconds(lambda: session.run(None, feeds), repeats) / 1e12


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    result = {
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),  # fmt: skip
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "size": args.size,
        "load_start": os.getloadavg(),
        "fp32_tflops": round(torch_tflops("float32", args.size, args.repeats), 3),
        "bf16_tflops": round(torch_tflops("bfloat16", args.size, args.repeats), 3),
        "int8_onnx_tops": round(onnx_int8_tops(args.size, args.repeats), 3),
        "load_end": os.getloadavg(),
    }
    out = args.out or ROOT / f"benchmarks/results/cpu-peak-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
