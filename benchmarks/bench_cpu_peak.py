"""What this CPU's matrix multiply reaches: the ceiling that inference and training TFLOP/s are
measured against.

    python benchmarks/bench_cpu_peak.py            # fp32 and bf16 torch.mm, ONNX Runtime int8
    python -m benchmarks.bench_cpu_peak --size 1024

Times square matrix products large enough to be compute-bound (`--size`, default 2048) with
torch's default threads, the fastest of `--repeats`. fp32 and bf16 use `torch.mm`; ONNX Runtime's
`MatMul` (fp32) and `MatMulInteger` (int8, what `newsclf export --int8` runs on) are timed too. FLOPs count 2*n^3 per
product (int8: integer operations). Writes benchmarks/results/cpu-peak-<date>.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks import common  # noqa: E402


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


def onnx_tops(kind: str, n: int, repeats: int) -> float:
    """ONNX Runtime's MatMul (fp32) or MatMulInteger (int8: uint8 activations, int8 weights)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    int8 = kind == "int8"
    a_type, b_type, y_type = (
        (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)
        if int8
        else (TensorProto.FLOAT,) * 3
    )
    node = helper.make_node("MatMulInteger" if int8 else "MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph(
        [node],
        "mm",
        [
            helper.make_tensor_value_info("a", a_type, [n, n]),
            helper.make_tensor_value_info("b", b_type, [n, n]),
        ],
        [helper.make_tensor_value_info("y", y_type, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mm.onnx"
        onnx.save(model, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if int8:
        feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8),
                 "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}  # fmt: skip
    else:
        feeds = {name: rng.standard_normal((n, n), dtype=np.float32) for name in "ab"}
    return 2 * n**3 / best_seconds(lambda: session.run(None, feeds), repeats) / 1e12


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    result = {
        **common.machine(),  # cpu, cores, bf16 instructions, library versions
        "torch_threads": torch.get_num_threads(),
        "size": args.size,
        "load_start": os.getloadavg(),
        "fp32_tflops": round(torch_tflops("float32", args.size, args.repeats), 3),
        "bf16_tflops": round(torch_tflops("bfloat16", args.size, args.repeats), 3),
        "fp32_onnx_tflops": round(onnx_tops("fp32", args.size, args.repeats), 3),
        "int8_onnx_tops": round(onnx_tops("int8", args.size, args.repeats), 3),
        "load_end": os.getloadavg(),
    }
    out = common.write_json(args.out or common.result_path("cpu-peak"), result)
    print(json.dumps(result, indent=2), f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
