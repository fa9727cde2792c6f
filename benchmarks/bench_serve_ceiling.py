"""How much can dynamic batching gain at all? The model alone, without HTTP, on this machine.

    python benchmarks/bench_serve_ceiling.py --model runs/demo/best_model
    python benchmarks/bench_serve_ceiling.py --model runs/demo/best_model --precision fp32
    python -m benchmarks.bench_serve_ceiling --model runs/demo/best_model

The server's batching ratio (`bench_serve.py`: texts/s with batching against
`--max-batch-size 1`) cannot exceed what the model gains from batching in the same process.
This measures that ceiling the way the server runs a batch: texts arrive in groups (16 at a
time, as from 16 concurrent clients, or 64), each group goes through `Classifier.infer`, sorted
by length and cut into sub-batches of `--sub-batch` (the server's CPU_ONLINE_BATCH), against one
text per forward pass. Same texts (the AG News test split in a seeded order), same precision,
fastest of `--repeats` passes over them.

The model's threads wait between operations as in `newsclf serve` (`newsclf.serve.threads`:
OMP_WAIT_POLICY=PASSIVE unless the environment sets it), so the ceiling is the server's model.
`--groups 16 64` measures only one text per pass and those groups in sub-batches of 4, with
the CPU time per text of each: what `bench_serve.py` runs after its servers (`run_apart`), so
its share of the ceiling comes from the same run.

Writes a JSON file (default benchmarks/results/serve-ceiling-<date>.json) and prints it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.bench_serve import load_texts  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="runs/demo/best_model", help="a saved model directory")
    p.add_argument("--precision", default="auto", help="as `newsclf serve --precision`")
    p.add_argument("--texts", type=int, default=640, help="texts per pass")
    p.add_argument("--repeats", type=int, default=2, help="passes per setting; the fastest counts")
    p.add_argument("--groups", type=int, nargs="+", help="only these arrival groups (sub-batch 4)")
    p.add_argument("--out", type=Path, help="the JSON file to write")
    return p.parse_args(argv)


ONE_PER_PASS = "one text per forward pass"


def group_name(group: int, sub: int = 4) -> str:
    return f"{group} together, sub-batches of {sub}"


def texts_per_second(
    classify, texts: list[str], group: int, sub: int, repeats: int
) -> tuple[float, float]:
    """`texts` in arrival groups of `group`, each group one `infer` call at batch `sub`:
    (texts/s, CPU ms per text of this process) of the fastest pass."""
    best, cpu_ms = 0.0, 0.0
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), group):
            classify(texts[i : i + group], batch_size=sub)
        rate = len(texts) / (time.perf_counter() - start)
        if rate > best:
            best, cpu_ms = rate, 1000 * (time.process_time() - cpu) / len(texts)
    return round(best, 1), round(cpu_ms, 2)


def settings_for(groups: list[int] | None) -> dict[str, tuple[int, int]]:
    """name: (arrival group, sub-batch)."""
    if groups:
        return {ONE_PER_PASS: (1, 1), **{group_name(g): (g, 4) for g in groups}}
    return {ONE_PER_PASS: (1, 1), group_name(16): (16, 4), group_name(16, 8): (16, 8),
            "16 together, one pass": (16, 16), group_name(64): (64, 4)}  # fmt: skip


def run_apart(model: str, texts: int, groups: list[int], repeats: int = 2) -> dict:
    """This benchmark in a fresh process (torch and its threads as a fresh server's), with
    only `groups`: its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ceiling.json"
        cmd = [sys.executable, "-m", "benchmarks.bench_serve_ceiling", "--model", model,
               "--texts", str(texts), "--repeats", str(repeats), "--out", str(out),
               "--groups", *map(str, groups)]  # fmt: skip
        done = subprocess.run(cmd, cwd=common.ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the model-only run failed: {done.stderr[-2000:]}")
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from newsclf.serve.threads import sleep_between_operations

    policy = sleep_between_operations()  # as `newsclf serve`, before torch loads
    from newsclf.inference import Classifier

    texts = [text for text, _ in load_texts()[: args.texts]]
    clf = Classifier.from_pretrained(args.model, precision=args.precision)
    clf.infer(texts[:32], batch_size=4)  # warm-up: first-call allocations out of the clock
    result = {"model": args.model, "precision": args.precision, "texts": len(texts),
              "omp_wait_policy": policy, "machine": common.machine(),
              "load_start": os.getloadavg(), "texts_per_s": {}, "cpu_ms_per_text": {}}  # fmt: skip
    for name, (group, sub) in settings_for(args.groups).items():
        rate, cpu_ms = texts_per_second(clf.infer, texts, group, sub, args.repeats)
        result["texts_per_s"][name], result["cpu_ms_per_text"][name] = rate, cpu_ms
        print(f"{name:34s} {rate:8.1f} texts/s {cpu_ms:7.2f} CPU ms/text", flush=True)
    single = result["texts_per_s"][ONE_PER_PASS]
    result["ceiling_vs_one_per_pass"] = {
        name: round(rate / single, 2) for name, rate in result["texts_per_s"].items()
    }
    result["load_end"] = os.getloadavg()
    out = args.out or common.result_path("serve-ceiling", f"-{args.precision}")
    common.write_json(out, result)
    print(json.dumps(result["ceiling_vs_one_per_pass"], indent=2), f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
