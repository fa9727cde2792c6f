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
import time  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.bench_serve import load_texts  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="runs/demo/best_model", help="a saved model directory")
    p.add_argument("--precision", default="auto", help="as `newsclf serve --precision`")
    p.add_argument("--texts", type=int, default=640, help="texts per pass")
    p.add_argument("--repeats", type=int, default=2, help="passes per setting; the fastest counts")
    p.add_argument("--out", type=Path, help="the JSON file to write")
    return p.parse_args(argv)


def texts_per_second(classify, texts: list[str], group: int, sub: int, repeats: int) -> float:
    """`texts` in arrival groups of `group`, each group one `infer` call at batch `sub`."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(texts), group):
            classify(texts[i : i + group], batch_size=sub)
        best = max(best, len(texts) / (time.perf_counter() - start))
    return round(best, 1)


def main(argv: list[str] | None = None) -> int:
    from newsclf.inference import Classifier

    args = parse_args(argv)
    texts = [text for text, _ in load_texts()[: args.texts]]
    clf = Classifier.from_pretrained(args.model, precision=args.precision)
    clf.infer(texts[:32], batch_size=4)  # warm-up: first-call allocations out of the clock
    settings = {  # name: (arrival group, sub-batch)
        "one text per forward pass": (1, 1),
        "16 together, sub-batches of 4": (16, 4),
        "16 together, sub-batches of 8": (16, 8),
        "16 together, one pass": (16, 16),
        "64 together, sub-batches of 4": (64, 4),
    }
    result = {"model": args.model, "precision": args.precision, "texts": len(texts),
              "machine": common.machine(), "load_start": os.getloadavg(),
              "texts_per_s": {}}  # fmt: skip
    for name, (group, sub) in settings.items():
        result["texts_per_s"][name] = texts_per_second(clf.infer, texts, group, sub, args.repeats)
        print(f"{name:34s} {result['texts_per_s'][name]:8.1f} texts/s", flush=True)
    single = result["texts_per_s"]["one text per forward pass"]
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
