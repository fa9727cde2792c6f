r"""Inference speed on one saved model: `transformers.pipeline` against a tutorial-style loop and
newsclf's Classifier, in one process, on the same test texts.

    python benchmarks/bench_infer.py --trained runs/demo/best_model --infer-rows 2000 --int8
    python -m benchmarks.bench_infer --trained runs/demo/best_model --device cuda \
        --infer-batches 1024 --infer-compile

`infer_pipeline`: `transformers.pipeline("text-classification")` with its default batch size.
`infer_tutorial`: the tutorial-style loop (fp32, batch 64, unsorted). `infer_newsclf_fp32` and
`infer_newsclf`: newsclf's Classifier (length-sorted batches) in fp32 and in the default
precision; --int8 adds dynamic int8 (CPU), --infer-batches other batch sizes, --infer-compile
torch.compile. Each phase is timed --infer-repeats times, the fastest kept; the summary has each
newsclf phase's speed against `pipeline` and `tutorial`, and how often their predictions agree.

Writes a JSON file (default benchmarks/results/<device>-<date>-infer.json) and prints a table;
bench_speed.py runs these phases after training in one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import harness  # noqa: E402
from benchmarks.harness import Bench, Phase  # noqa: E402

# The settings whose predictions the others are compared with (summary's agreement_with_*).
REFERENCES = {"pipeline": "pipeline, default batch_size", "tutorial": "fp32, batch 64, unsorted"}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--int8", action="store_true", help="also time dynamic int8 inference (CPU)")
    p.add_argument(
        "--infer-batches", type=int, nargs="*", default=[],
        help="extra newsclf inference phases at these batch sizes (run's precision)",
    )  # fmt: skip
    p.add_argument(
        "--infer-compile", action="store_true", help="also time torch.compile'd newsclf inference"
    )


def phases(bench: Bench, args: argparse.Namespace) -> dict[str, Phase]:
    """The baselines and newsclf at its defaults (and int8)."""
    out: dict[str, Phase] = {
        "infer_pipeline": lambda: infer_pipeline(bench),
        "infer_tutorial": lambda: infer_tutorial(bench),
        "infer_newsclf_fp32": lambda: infer_newsclf(bench, "fp32"),
        "infer_newsclf": lambda: infer_newsclf(bench, bench.cfg.precision),
    }
    if args.int8 and bench.device.type == "cpu":
        out["infer_newsclf_int8"] = lambda: infer_newsclf(bench, "fp32", int8=True)
    return out


def batch_phases(bench: Bench, args: argparse.Namespace) -> dict[str, Phase]:
    """newsclf at other batch sizes and compiled: apart from `phases` so that bench_speed can
    run them last, after ONNX, as it always has (torch.compile's state stays in the process)."""
    precision = bench.cfg.precision
    out: dict[str, Phase] = {
        f"infer_newsclf_b{b}": lambda b=b: infer_newsclf(bench, precision, batch=b)
        for b in args.infer_batches
    }
    if args.infer_compile:
        batch = max(args.infer_batches, default=None)
        out["infer_newsclf_compiled"] = lambda: infer_newsclf(
            bench, precision, batch=batch, compile=True
        )
    return out


def infer_pipeline(bench: Bench) -> dict[str, Any]:
    """transformers.pipeline("text-classification") with its default batch size (1: one
    forward pass per text, so no padding), truncating like newsclf so the inputs match."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(bench.trained()), device=bench.device)
    texts, max_length = bench.infer_texts, bench.cfg.max_length
    out, seconds = timed(bench, lambda: pipe(texts, truncation=True, max_length=max_length))
    label2id = pipe.model.config.label2id
    predicted = [label2id[row["label"]] for row in out]
    batches = [[i] for i in range(len(texts))]
    return infer_result(bench, predicted, seconds, batches, 1, REFERENCES["pipeline"])


def infer_tutorial(bench: Bench) -> dict[str, Any]:
    """The tutorial's evaluation loop: fp32, batch 64 in dataset order, padded per batch."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path, device, texts = bench.trained(), bench.device, bench.infer_texts
    torch.set_float32_matmul_precision("highest")  # newsclf's fit turned TF32 on in this process
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
    model.to(device).eval()

    def run() -> list[int]:
        predicted = []
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                enc = tokenizer(
                    texts[start : start + 64], padding=True, truncation=True,
                    max_length=bench.cfg.max_length, return_tensors="pt",
                ).to(device)  # fmt: skip
                predicted.append(model(**enc).logits.argmax(-1).cpu())
        return torch.cat(predicted).tolist()

    predicted, seconds = timed(bench, run)
    batches = chunks(list(range(len(texts))), 64)
    return infer_result(bench, predicted, seconds, batches, 1, REFERENCES["tutorial"])


def infer_newsclf(
    bench: Bench, precision: str, int8: bool = False, batch: int | None = None,
    compile: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """newsclf's Classifier: tokenized once, length-sorted batches, optional bf16/int8, and
    optionally torch.compile'd (one untimed warm-up pass compiles it; its time is reported)."""
    import numpy as np
    import torch

    from newsclf.inference import Classifier
    from newsclf.inference.torch_backend import default_batch_size

    clf = Classifier.from_pretrained(bench.trained(), device=str(bench.device), precision=precision)
    if int8:
        clf = _quantized(clf)
    texts, batch = bench.infer_texts, batch or default_batch_size(bench.device)
    extra = {}
    if compile:
        clf.backend.model = torch.compile(clf.backend.model, dynamic=True)
        _, extra["compile_warmup_s"] = timed(bench, lambda: clf.infer(texts, batch_size=batch), 1)
    result, seconds = timed(bench, lambda: clf.infer(texts, batch_size=batch).predicted.tolist())
    order = np.argsort(bench.infer_lengths, kind="stable").tolist()
    dtype = "int8 dynamic" if int8 else str(clf.backend.dtype or "fp32").replace("torch.", "")
    setting = f"{dtype}, batch {batch}, length-sorted" + (", compiled" if compile else "")
    return {**infer_result(bench, result, seconds, chunks(order, batch), 8, setting), **extra}


def _quantized(clf: Any) -> Any:
    import torch

    backend = clf.backend  # a TorchBackend: its model and autocast dtype are swapped
    backend.model = torch.ao.quantization.quantize_dynamic(
        backend.model, {torch.nn.Linear}, torch.qint8
    )
    backend.dtype = None  # int8 kernels take fp32 activations
    return clf


# --- measuring ----------------------------------------------------------------------------


def timed(bench: Bench, fn: Callable[[], Any], repeats: int | None = None) -> tuple[Any, float]:
    """fn's result and its fastest time over --infer-repeats runs (the device synchronised)."""
    best, result = float("inf"), None
    for _ in range(repeats or bench.repeats):
        t0 = time.perf_counter()
        result = fn()
        bench.sync()
        best = min(best, time.perf_counter() - t0)
    return result, round(best, 4)


def padded_tokens(lengths: list[int], batches: list[list[int]], multiple: int = 1) -> int:
    """Tokens the model computes on: every row padded to its batch's longest (rounded up)."""
    total = 0
    for rows in batches:
        longest = max(lengths[i] for i in rows)
        total += len(rows) * (-(-longest // multiple) * multiple)
    return total


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def infer_result(
    bench: Bench, predicted: list[int], seconds: float, batches: list, multiple: int, setting: str
) -> dict[str, Any]:
    """One inference phase's row: accuracy and throughput on the padded batches it ran; its
    predictions are kept for the summary's agreement."""
    lengths, labels = bench.infer_lengths, bench.infer_labels
    bench.predictions[setting] = predicted
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    return {
        "setting": setting,
        "test_accuracy": round(accuracy, 5),
        **harness.throughput(
            len(lengths),
            sum(lengths),
            padded_tokens(lengths, batches, multiple),
            seconds,
            2 * bench.matmul_params,
        ),
    }


def summary(bench: Bench, results: dict[str, Any]) -> dict[str, Any]:
    """Prediction agreement with the pipeline and tutorial loops, and each newsclf and ONNX
    phase's samples/s against theirs."""
    out: dict[str, Any] = {}
    for name, setting in REFERENCES.items():
        reference = bench.predictions.get(setting)
        for other, predicted in bench.predictions.items() if reference else ():
            same = sum(a == b for a, b in zip(predicted, reference, strict=True))
            out.setdefault(f"agreement_with_{name}", {})[other] = round(same / len(reference), 5)
    for base in ("infer_pipeline", "infer_tutorial"):
        for fast in [n for n in results if n.startswith(("infer_newsclf", "infer_onnx"))]:
            if base in results:
                ratio = results[fast]["samples_per_s"] / results[base]["samples_per_s"]
                out[f"{fast}_vs_{base.removeprefix('infer_')}"] = round(ratio, 2)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    needs = "the saved model to time (bench_speed.py trains one first)"
    args = harness.parse_args(__doc__, add_args, argv, needs_trained=needs)

    def build(bench: Bench) -> dict[str, Phase]:
        return {**phases(bench, args), **batch_phases(bench, args)}

    return harness.run(args, build, [summary], __file__, "-infer")


if __name__ == "__main__":
    main()
