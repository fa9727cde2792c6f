"""Seconds per text of `Classifier.explain`, for short and long texts, by method.

    nice -n 10 python benchmarks/bench_explain.py runs/demo/best_model
    python -m benchmarks.bench_explain runs/demo/best_model --texts 5 --methods gradients

Short texts: AG News test rows (about 40-60 tokens). Long texts: several test rows joined until
the model's max length (512 tokens) is passed, so the whole window is read. Each text is
explained on its own (as `newsclf explain` and POST /explain do); the first explanation warms
up and is not counted. Results go to benchmarks/results/explain-<date>.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", help="a model directory (or an ONNX export: occlusion only)")
    p.add_argument("--texts", type=int, default=5, help="texts timed per length")
    p.add_argument("--methods", nargs="*", default=["gradients", "occlusion"])
    p.add_argument("--steps", type=int, default=None, help="integrated-gradients steps")
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def texts_of_both_lengths(n: int, tokenizer: Any) -> dict[str, list[str]]:
    from newsclf import TrainConfig
    from newsclf.data import load_data

    rows = load_data(TrainConfig(quiet=True)).splits["test"]["text"]
    short = rows[: n + 1]
    long, pool = [], iter(rows[n + 1 :])
    for _ in range(n + 1):
        text = ""
        while len(tokenizer(text)["input_ids"]) <= 520:
            text = (text + " " + next(pool)).strip()
        long.append(text)
    return {"short": short, "long": long}


def main(argv: list[str] | None = None) -> int:
    import torch

    from newsclf import Classifier

    args = parse_args(argv)
    clf = Classifier.from_pretrained(args.model, device="cpu")
    tokenizer = getattr(clf.backend, "tokenizer", None)
    sets = texts_of_both_lengths(args.texts, tokenizer)
    report: dict[str, Any] = {
        "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
        "machine": common.machine("cpu"),
        "model": str(args.model),
        "torch_threads": torch.get_num_threads(),
        "results": {},
    }
    out = args.out or common.result_path("explain")
    for method in args.methods:
        for length, texts in sets.items():
            tokens = [
                len(tokenizer(t, truncation=True, max_length=512)["input_ids"]) for t in texts
            ]
            clf.explain(texts[0], method=method, steps=args.steps)  # warm-up
            seconds = []
            for text in texts[1:]:
                start = time.perf_counter()
                clf.explain(text, method=method, steps=args.steps)
                seconds.append(time.perf_counter() - start)
            report["results"][f"{method}/{length}"] = {
                "texts": len(seconds),
                "tokens_median": statistics.median(tokens[1:]),
                "seconds_per_text_median": round(statistics.median(seconds), 3),
                "seconds_per_text": [round(s, 3) for s in seconds],
            }
            common.write_json(out, report)
            print(method, length, report["results"][f"{method}/{length}"], flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
