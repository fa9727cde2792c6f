"""A tutorial-style fine-tuning loop against newsclf's, in one process, on the same model and texts.

    python benchmarks/bench_speed.py                  # CPU: 4,500 train rows, the 7,600 test rows
    python benchmarks/bench_speed.py --device cuda    # the same on a GPU
    python benchmarks/bench_speed.py --quick          # smoke test on small subsets

Training: each loop trains epoch by epoch and saves its model after every epoch; the saved model
is then scored on the test split with the same scorer for both loops, with the clock paused
(scoring is excluded from both clocks). A loop stops once a saved model reaches --target
accuracy, or at its last epoch. Time to target = the clock when that model was saved,
counted from loading the model (tokenizing, training and saving included).

Inference, all on the model newsclf's loop saved: `transformers.pipeline("text-classification")`
with its default batch size, the tutorial-style loop (fp32, batch 64, unsorted), and newsclf's
Classifier (length-sorted batches; fp32 and the default precision, and int8 when asked).

ONNX (--onnx): the same model exported by `newsclf export` (fp32 and --int8) and run through
Classifier on ONNX Runtime at its default threads and batch size; --onnx-grid adds phases at other
thread counts and batch sizes, --onnx-accuracy scores PyTorch fp32 and both exports on the whole
test split, and --cold-start N times `newsclf predict DIR "text"` as a fresh process (start to
first prediction, and its peak RSS) for the PyTorch and both ONNX directories.

    python benchmarks/bench_speed.py --trained runs/demo/best_model \
        --skip train_tutorial train_newsclf --infer-rows 2000 --int8 --onnx --onnx-accuracy \
        --onnx-grid fp32:1:32 int8:1:32 int8:2:8 int8:2:64 --cold-start 3

Writes a JSON file (default benchmarks/results/<device>-<date>.json) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import gc
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Dense bf16 tensor-core peak from the vendors' spec sheets, TFLOP/s; CPUs: unknown (None).
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0,
               "H100 NVL": 835.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--model", default=None, help="model name or dir (default: newsclf's)")
    p.add_argument("--target", type=float, default=0.89, help="test accuracy to reach")
    p.add_argument("--tutorial-epochs", type=int, default=3, help="the tutorial loop's schedule")
    p.add_argument("--train-rows", type=int, default=None, help="subsample train (stratified)")
    p.add_argument("--test-rows", type=int, default=None, help="subsample test (stratified)")
    p.add_argument("--infer-rows", type=int, default=None, help="test rows for inference timing")
    p.add_argument("--score-precision", default="fp32", help="precision of the test scorer")
    p.add_argument("--int8", action="store_true", help="also time dynamic int8 inference (CPU)")
    p.add_argument(
        "--infer-repeats",
        type=int,
        default=1,
        help="time each inference phase N times, keep the fastest",
    )
    p.add_argument(
        "--infer-batches", type=int, nargs="*", default=[],
        help="extra newsclf inference phases at these batch sizes (run's precision)",
    )  # fmt: skip
    p.add_argument(
        "--infer-compile", action="store_true", help="also time torch.compile'd newsclf inference"
    )
    p.add_argument("--onnx", action="store_true", help="also time ONNX Runtime fp32 and int8")
    p.add_argument(
        "--onnx-grid", nargs="*", default=[], metavar="KIND:THREADS:BATCH",
        help="extra ONNX phases, e.g. fp32:1:32 int8:2:64 (implies --onnx)",
    )  # fmt: skip
    p.add_argument(
        "--onnx-accuracy", action="store_true",
        help="PyTorch fp32 vs ONNX fp32 vs int8 accuracy on every test row (implies --onnx)",
    )  # fmt: skip
    p.add_argument(
        "--cold-start", type=int, default=0, metavar="N",
        help="time `newsclf predict DIR text` N times per model dir as a new process",
    )  # fmt: skip
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="newsclf TrainConfig overrides"
    )
    p.add_argument(
        "--also", nargs="*", default=[], metavar="K=V[,K=V]",
        help="extra newsclf training runs with these overrides, e.g. epochs=1",
    )  # fmt: skip
    p.add_argument("--skip", nargs="*", default=[], help="phases to skip, e.g. infer_pipeline")
    p.add_argument("--quick", action="store_true", help="small subsets, one epoch each")
    p.add_argument("--out", type=Path, default=None, help="JSON output path")
    p.add_argument("--workdir", type=Path, default=None, help="where models are saved")
    p.add_argument(
        "--trained", type=Path, default=None,
        help="a saved model for the inference phases when train_newsclf is skipped",
    )  # fmt: skip
    args = p.parse_args(argv)
    args.onnx = args.onnx or bool(args.onnx_grid) or args.onnx_accuracy or args.cold_start > 0
    if args.quick:
        args.train_rows, args.test_rows, args.tutorial_epochs = 64, 64, 1
        args.set = ["epochs=1", "max_eval_samples=32", *args.set]
    return args


# --- measuring ------------------------------------------------------------------------


class Clock:
    """Wall time with pauses, so that test scoring is left out of time-to-target."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync, self.paused, self.start = sync, 0.0, time.perf_counter()

    def now(self) -> float:
        self.sync()
        return time.perf_counter() - self.start - self.paused

    def excluded(self, fn: Callable[[], Any]) -> Any:
        self.sync()
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.paused += time.perf_counter() - t0


class Memory:
    """Peak memory of one phase: GPU allocations on CUDA; on the CPU the process's peak RSS,
    reset between phases through /proc/self/clear_refs (Linux) so each phase has its own peak."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def reset(self) -> float:
        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        with contextlib.suppress(OSError, AttributeError):  # glibc: give freed heap back
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        # Not Linux: the peak stays the process's peak so far.
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        return _rss_mib()

    def peak(self) -> dict[str, float]:
        import torch

        out = {"rss_peak_mib": _peak_rss_mib()}
        if self.device.type == "cuda":
            out["gpu_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return out


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _peak_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def padded_tokens(lengths: list[int], batches: list[list[int]], multiple: int = 1) -> int:
    """Tokens the model computes on: every row padded to its batch's longest (rounded up)."""
    total = 0
    for rows in batches:
        longest = max(lengths[i] for i in rows)
        total += len(rows) * (-(-longest // multiple) * multiple)
    return total


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def throughput(
    rows: int, real_tokens: int, computed_tokens: int, seconds: float, flops_per_token: float
) -> dict[str, Any]:
    """samples/s, tokens/s (real and padded) and achieved TFLOP/s on the padded tokens."""
    return {
        "seconds": round(seconds, 2),
        "samples_per_s": round(rows / seconds, 1),
        "tokens_per_s": round(real_tokens / seconds, 1),
        "padded_tokens_per_s": round(computed_tokens / seconds, 1),
        "padding_share": round(1 - real_tokens / computed_tokens, 3) if computed_tokens else None,
        "tflops": float(f"{flops_per_token * computed_tokens / seconds / 1e12:.4g}"),
    }


def matmul_params(model: Any) -> int:
    """Parameters outside embedding tables: the ones a token multiplies through."""
    import torch

    skip = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


# --- the two training loops ---------------------------------------------------------------


def tutorial_train(ctx: dict, scorer: Callable[[Path], float]) -> dict[str, Any]:
    """The loop most AG News fine-tuning tutorials write: fp32, batch 16, shuffled batches
    padded by DataCollatorWithPadding, AdamW 5e-5 with a linear schedule, loss.item() per step."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        get_scheduler,
    )

    device, names, epochs = ctx["device"], ctx["label_names"], ctx["args"].tutorial_epochs
    torch.set_float32_matmul_precision("highest")  # PyTorch's default: no TF32 in a tutorial
    clock = Clock(ctx["sync"])
    tokenizer = AutoTokenizer.from_pretrained(ctx["model_path"])
    model = AutoModelForSequenceClassification.from_pretrained(
        ctx["model_path"], num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, dtype=torch.float32,
    ).to(device)  # fmt: skip
    train = ctx["train"].map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=ctx["max_length"]),
        batched=True,
    )
    train = train.remove_columns(["text"]).rename_column("label", "labels")
    train.set_format("torch")
    torch.manual_seed(ctx["seed"])
    loader = DataLoader(
        train, shuffle=True, batch_size=16, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scheduler = get_scheduler("linear", optimizer, 0, epochs * len(loader))
    fpt = 6 * matmul_params(model)
    rows, reached, real, computed = [], None, 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        t0, running, real0, computed0 = clock.now(), 0.0, real, computed
        for batch in loader:
            real += int(batch["attention_mask"].sum())  # CPU tensors: no device sync
            computed += batch["input_ids"].numel()
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item()
        train_s = clock.now() - t0
        target = ctx["workdir"] / f"tutorial-epoch{epoch}"
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        saved_at = clock.now()
        accuracy = clock.excluded(lambda t=target: scorer(t))
        rows.append(_epoch_row(epoch, saved_at, accuracy, running / len(loader)))
        rows[-1].update(train_s=train_s, real=real - real0, computed=computed - computed0)
        if accuracy >= ctx["args"].target:
            reached = rows[-1]
            break
    return {
        "recipe": "fp32, batch 16, shuffled, DataCollatorWithPadding, AdamW 5e-5 linear, "
        f"{epochs}-epoch schedule, loss.item() every step",
        "epochs": rows,
        "time_to_target_s": reached["saved_at_s"] if reached else None,
        **train_throughput(rows, len(ctx["train"]), fpt),
    }


def train_throughput(rows: list[dict], n: int, fpt: float) -> dict[str, Any]:
    """Throughput over the optimizer steps of every epoch (`train`), and over the epochs after
    the first (`train_steady`: without warm-up such as torch.compile's), from per-epoch
    `train_s` (steps only), `real` and `computed` tokens; the per-epoch keys are then dropped."""

    def over(part: list[dict]) -> dict[str, Any]:
        return throughput(
            len(part) * n,
            sum(r["real"] for r in part),
            sum(r["computed"] for r in part),
            sum(r["train_s"] for r in part),
            fpt,
        )

    out = {"train": over(rows)}
    if len(rows) > 1:
        out["train_steady"] = over(rows[1:])
    for row in rows:
        row["train_seconds"] = round(row.pop("train_s"), 2)
        del row["real"], row["computed"]
    return out


def newsclf_train(
    ctx: dict, scorer: Callable[[Path], float], overrides: dict | None = None
) -> dict[str, Any]:
    """newsclf's own loop (`newsclf.train.fit`): the default config, or with --set/--also."""
    import dataclasses

    from newsclf.batching import train_loader
    from newsclf.data import tokenize
    from newsclf.model import build_model, load_tokenizer
    from newsclf.train import fit

    cfg, data = dataclasses.replace(ctx["cfg"], **(overrides or {})).validate(), ctx["data"]
    clock = Clock(ctx["sync"])
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, data.label_names)
    train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    run_dir = ctx["workdir"] / (
        "newsclf-run" + "-".join(f"{k}{v}" for k, v in (overrides or {}).items())
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def on_epoch(epoch: int, history: Any) -> bool:
        saved_at = clock.now()
        accuracy = clock.excluded(lambda: scorer(run_dir / "best_model"))
        row = _epoch_row(epoch, saved_at, accuracy, history.epochs[-1].train_loss)
        rows.append({**row, "best_epoch_by_val": history.best_epoch})
        return accuracy >= ctx["args"].target

    fpt = 6 * matmul_params(model)
    history = fit(cfg, model, tokenizer, train_set, data, run_dir, on_epoch=on_epoch)
    lengths = list(train_set["length"])
    # The padded tokens of one epoch of the same sampler (every epoch pads about the same).
    per_epoch = sum(b["input_ids"].numel() for b in train_loader(cfg, tokenizer, train_set))
    for row, epoch in zip(rows, history.epochs, strict=True):
        row.update(train_s=epoch.train_seconds, real=sum(lengths), computed=per_epoch)
        row["epoch_seconds"] = epoch.seconds  # validation and checkpoint included
    reached = next((r for r in rows if r["test_accuracy"] >= ctx["args"].target), None)
    if not overrides:
        ctx["newsclf_model"] = run_dir / "best_model"
    return {
        "recipe": f"newsclf fit: precision {cfg.precision} ({_resolved_precision(cfg)}), "
        f"batch {cfg.batch_size}, lr {cfg.learning_rate}, group_by_length {cfg.group_by_length}, "
        f"{cfg.epochs}-epoch schedule, compile {cfg.compile}",
        "epochs": rows,
        "time_to_target_s": reached["saved_at_s"] if reached else None,
        # Steps only, like the tutorial's; each epoch's epoch_seconds adds validation and saving.
        **train_throughput(rows, len(lengths), fpt),
    }


def _resolved_precision(cfg: Any) -> str:
    from newsclf.precision import precision_name, training_dtype

    return precision_name(training_dtype(cfg.precision))


def _epoch_row(epoch: int, saved_at: float, accuracy: float, loss: float) -> dict[str, Any]:
    print(f"  epoch {epoch}: saved at {saved_at:.1f}s, test accuracy {accuracy:.4f}", flush=True)
    return {
        "epoch": epoch,
        "saved_at_s": round(saved_at, 2),
        "test_accuracy": round(accuracy, 5),
        "train_loss": round(loss, 5),
    }


# --- inference ----------------------------------------------------------------------------


def infer_pipeline(ctx: dict) -> dict[str, Any]:
    """transformers.pipeline("text-classification") with its default batch size (1: one
    forward pass per text, so no padding), truncating like newsclf so the inputs match."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(ctx["newsclf_model"]), device=ctx["device"])
    texts = ctx["infer_texts"]
    out, seconds = timed(ctx, lambda: pipe(texts, truncation=True, max_length=ctx["max_length"]))
    label2id = pipe.model.config.label2id
    predicted = [label2id[row["label"]] for row in out]
    batches = [[i] for i in range(len(texts))]
    return _infer_result(ctx, predicted, seconds, batches, 1, "pipeline, default batch_size")


def infer_tutorial(ctx: dict) -> dict[str, Any]:
    """The tutorial's evaluation loop: fp32, batch 64 in dataset order, padded per batch."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path, device, texts = ctx["newsclf_model"], ctx["device"], ctx["infer_texts"]
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
                    max_length=ctx["max_length"], return_tensors="pt",
                ).to(device)  # fmt: skip
                predicted.append(model(**enc).logits.argmax(-1).cpu())
        return torch.cat(predicted).tolist()

    predicted, seconds = timed(ctx, run)
    batches = chunks(list(range(len(texts))), 64)
    return _infer_result(ctx, predicted, seconds, batches, 1, "fp32, batch 64, unsorted")


def infer_newsclf(
    ctx: dict, precision: str, int8: bool = False, batch: int | None = None, compile: bool = False
) -> dict[str, Any]:
    """newsclf's Classifier: tokenized once, length-sorted batches, optional bf16/int8, and
    optionally torch.compile'd (one untimed warm-up pass compiles it; its time is reported)."""
    import numpy as np
    import torch

    from newsclf.predict import Classifier, default_batch_size

    device = str(ctx["device"])
    clf = Classifier.from_pretrained(ctx["newsclf_model"], device=device, precision=precision)
    if int8:
        clf = _quantized(clf)
    texts, batch = ctx["infer_texts"], batch or default_batch_size(ctx["device"])
    extra = {}
    if compile:
        clf.model = torch.compile(clf.model, dynamic=True)
        _, extra["compile_warmup_s"] = timed(ctx, lambda: clf.infer(texts, batch_size=batch), 1)
    result, seconds = timed(ctx, lambda: clf.infer(texts, batch_size=batch).predicted.tolist())
    order = np.argsort(ctx["infer_lengths"], kind="stable").tolist()
    dtype = "int8 dynamic" if int8 else str(clf.dtype or "fp32").replace("torch.", "")
    setting = f"{dtype}, batch {batch}, length-sorted" + (", compiled" if compile else "")
    return {**_infer_result(ctx, result, seconds, chunks(order, batch), 8, setting), **extra}


def timed(ctx: dict, fn: Callable[[], Any], repeats: int | None = None) -> tuple[Any, float]:
    """fn's result and its fastest time over --infer-repeats runs (the device synchronised)."""
    best, result = float("inf"), None
    for _ in range(repeats or ctx["args"].infer_repeats):
        t0 = time.perf_counter()
        result = fn()
        ctx["sync"]()
        best = min(best, time.perf_counter() - t0)
    return result, round(best, 4)


def _quantized(clf: Any) -> Any:
    import torch

    clf.model = torch.ao.quantization.quantize_dynamic(clf.model, {torch.nn.Linear}, torch.qint8)
    clf.dtype = None  # int8 kernels take fp32 activations
    return clf


def _infer_result(
    ctx: dict, predicted: list[int], seconds: float, batches: list, multiple: int, setting: str
) -> dict[str, Any]:
    lengths, labels = ctx["infer_lengths"], ctx["infer_labels"]
    ctx.setdefault("predictions", {})[setting] = predicted
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    return {
        "setting": setting,
        "test_accuracy": round(accuracy, 5),
        **throughput(
            len(lengths),
            sum(lengths),
            padded_tokens(lengths, batches, multiple),
            seconds,
            2 * ctx["matmul_params"],
        ),
    }


# --- ONNX Runtime -------------------------------------------------------------------------


def export_onnx(ctx: dict) -> dict[str, Any]:
    """`newsclf export` of the model under test, fp32 and int8, into the workdir; the sizes on
    disk of those and of the PyTorch weights."""
    from newsclf.export import export

    ctx["onnx_dirs"], out = {}, {}
    for kind in ("fp32", "int8"):
        target = ctx["workdir"] / f"onnx-{kind}"
        t0 = time.perf_counter()
        info = export(ctx["newsclf_model"], target, int8=kind == "int8", overwrite=True)
        out[kind] = {
            "export_s": round(time.perf_counter() - t0, 1),
            "model_mib": round(info["size_bytes"] / 2**20, 1),
            "max_abs_prob_diff_vs_pytorch": info["max_abs_prob_diff_vs_pytorch"],
        }
        ctx["onnx_dirs"][kind] = target
    weights = Path(ctx["newsclf_model"]) / "model.safetensors"
    return {"pytorch_model_mib": round(weights.stat().st_size / 2**20, 1), **out}


def infer_onnx(
    ctx: dict, kind: str, threads: int | None = None, batch: int | None = None
) -> dict[str, Any]:
    """newsclf's Classifier on an export (ONNX Runtime): length-sorted batches, no padding
    beyond each batch's longest text."""
    import numpy as np

    from newsclf.onnx_backend import DEFAULT_BATCH_SIZE, DEFAULT_THREADS
    from newsclf.predict import Classifier

    clf = Classifier.from_onnx(ctx["onnx_dirs"][kind], threads=threads)
    texts, batch = ctx["infer_texts"], batch or DEFAULT_BATCH_SIZE
    result, seconds = timed(ctx, lambda: clf.infer(texts, batch_size=batch).predicted.tolist())
    order = np.argsort(ctx["infer_lengths"], kind="stable").tolist()
    setting = (
        f"ONNX Runtime {kind}, {threads or DEFAULT_THREADS} threads, batch {batch}, length-sorted"
    )
    return _infer_result(ctx, result, seconds, chunks(order, batch), 1, setting)


def onnx_accuracy(ctx: dict) -> dict[str, Any]:
    """Test accuracy of PyTorch fp32 and both exports on every test row, and how often the
    exports' predictions equal PyTorch's."""
    import numpy as np

    from newsclf.predict import Classifier

    texts, labels = ctx["test_texts"], ctx["test_labels"]
    torch_clf = Classifier.from_pretrained(ctx["newsclf_model"], device="cpu", precision="fp32")
    reference = torch_clf.infer(texts).predicted
    out = {"rows": len(texts), "pytorch_fp32": round(float((reference == labels).mean()), 5)}
    for kind, path in ctx["onnx_dirs"].items():
        predicted = Classifier.from_onnx(path).infer(texts).predicted
        out[f"onnx_{kind}"] = round(float((predicted == labels).mean()), 5)
        out[f"onnx_{kind}_same_as_pytorch"] = round(float(np.mean(predicted == reference)), 5)
    out["int8_minus_fp32_points"] = round(100 * (out["onnx_int8"] - out["pytorch_fp32"]), 2)
    return out


COLD_START = """
import sys
from newsclf.cli import main
code = main(sys.argv[1:])
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) / 1024, file=sys.stderr)
sys.exit(code)
"""


def cold_start(ctx: dict) -> dict[str, Any]:
    """`newsclf predict DIR "text"` as a new process, for each model directory: wall seconds
    from start to exit (best and median of N) and the child's peak RSS."""
    import statistics
    import subprocess

    dirs = {"pytorch": Path(ctx["newsclf_model"]), **ctx["onnx_dirs"]}
    out = {}
    for name, path in dirs.items():
        # `python -m newsclf predict`, printing its own peak RSS at exit: a forked child's
        # ru_maxrss would count the (large) benchmark process it was forked from.
        cmd = [sys.executable, "-c", COLD_START, "predict", str(path), "Stocks rally on Wall St"]
        times, peaks = [], []
        for _ in range(ctx["args"].cold_start):
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


# --- the run ------------------------------------------------------------------------------


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Config, data, device and the shared test scorer."""
    import tempfile

    import numpy as np
    import torch

    from newsclf.config import TrainConfig
    from newsclf.data import load_data
    from newsclf.model import load_tokenizer, resolve_model

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is visible to PyTorch.")
    overrides = _pairs(args.set)
    if args.model:
        overrides["model"] = args.model
    cfg = TrainConfig(
        quiet=True, visuals=False, max_train_samples=args.train_rows,
        max_test_samples=args.test_rows, **overrides,
    ).validate()  # fmt: skip
    data = load_data(cfg)
    device = torch.device(args.device)
    test = data.splits["test"]
    tokenizer = load_tokenizer(cfg.model)
    texts, labels = list(test["text"]), list(test["label"])
    rows = _infer_rows(len(texts), args.infer_rows, cfg.seed)
    infer_texts = [texts[i] for i in rows]
    lengths = [len(ids) for ids in tokenizer(infer_texts, truncation=True,
                                             max_length=cfg.max_length)["input_ids"]]  # fmt: skip
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newsclf-bench-"))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return {
        "args": args, "cfg": cfg, "data": data, "device": device, "sync": sync,
        "label_names": data.label_names, "train": data.splits["train"], "seed": cfg.seed,
        "model_path": resolve_model(cfg.model), "max_length": cfg.max_length,
        "test_texts": texts, "test_labels": np.array(labels), "infer_texts": infer_texts,
        "infer_labels": [labels[i] for i in rows], "infer_lengths": lengths, "workdir": workdir,
    }  # fmt: skip


def _pairs(items: list[str]) -> dict[str, Any]:
    """["epochs=1", "lr=1e-4,batch_size=64"] -> {"epochs": 1, "lr": 1e-4, "batch_size": 64}"""
    import yaml

    pairs = [kv.split("=", 1) for item in items for kv in item.split(",") if kv]
    return {k: yaml.safe_load(v) for k, v in pairs}


def _infer_rows(total: int, wanted: int | None, seed: int) -> list[int]:
    """All test rows, or a seeded random subset of them, in their original order."""
    import numpy as np

    if not wanted or wanted >= total:
        return list(range(total))
    return sorted(np.random.default_rng(seed).choice(total, wanted, replace=False).tolist())


def make_scorer(ctx: dict) -> Callable[[Path], float]:
    """Test accuracy of a saved model, the same scorer for both loops."""
    from newsclf.predict import Classifier

    def score(model_dir: Path) -> float:
        clf = Classifier.from_pretrained(
            model_dir, device=str(ctx["device"]), precision=ctx["args"].score_precision
        )
        predicted = clf.infer(ctx["test_texts"]).predicted
        return float((predicted == ctx["test_labels"]).mean())

    return score


def run_phases(ctx: dict, on_phase: Callable[[dict], Any] = lambda _: None) -> dict[str, Any]:
    from accelerate.utils import set_seed

    args, memory, scorer = ctx["args"], Memory(ctx["device"]), make_scorer(ctx)
    phases: dict[str, Callable[[], dict]] = {
        "train_tutorial": lambda: tutorial_train(ctx, scorer),
        "train_newsclf": lambda: newsclf_train(ctx, scorer),
        **{
            f"train_newsclf[{also}]": lambda also=also: newsclf_train(ctx, scorer, _pairs([also]))
            for also in args.also
        },
        "infer_pipeline": lambda: infer_pipeline(ctx),
        "infer_tutorial": lambda: infer_tutorial(ctx),
        "infer_newsclf_fp32": lambda: infer_newsclf(ctx, "fp32"),
        "infer_newsclf": lambda: infer_newsclf(ctx, ctx["cfg"].precision),
    }
    if args.int8 and ctx["device"].type == "cpu":
        phases["infer_newsclf_int8"] = lambda: infer_newsclf(ctx, "fp32", int8=True)
    if args.onnx:
        phases.update(_onnx_phases(ctx))
    precision = ctx["cfg"].precision
    for b in args.infer_batches:
        phases[f"infer_newsclf_b{b}"] = lambda b=b: infer_newsclf(ctx, precision, batch=b)
    if args.infer_compile:
        batch = max(args.infer_batches, default=None)
        phases["infer_newsclf_compiled"] = lambda: infer_newsclf(
            ctx, precision, batch=batch, compile=True
        )
    results = {}
    if args.trained:
        ctx["newsclf_model"] = args.trained
        ctx["matmul_params"] = _matmul_params_of(args.trained)
    for name, phase in phases.items():
        if name in args.skip:
            continue
        print(f"{name} ...", flush=True)
        set_seed(ctx["seed"])
        rss_start = memory.reset()
        results[name] = {**phase(), "rss_start_mib": rss_start, **memory.peak()}
        results[name]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]  # shared cores
        on_phase(results)
        if name == "train_newsclf":
            ctx["matmul_params"] = _matmul_params_of(ctx["newsclf_model"])
    return results


def _onnx_phases(ctx: dict) -> dict[str, Callable[[], dict]]:
    args = ctx["args"]
    phases: dict[str, Callable[[], dict]] = {
        "export_onnx": lambda: export_onnx(ctx),
        "infer_onnx_fp32": lambda: infer_onnx(ctx, "fp32"),
        "infer_onnx_int8": lambda: infer_onnx(ctx, "int8"),
    }
    for item in args.onnx_grid:
        kind, threads, batch = item.split(":")
        phases[f"infer_onnx_{kind}_t{threads}_b{batch}"] = (
            lambda k=kind, t=int(threads), b=int(batch): infer_onnx(ctx, k, t, b)
        )
    if args.onnx_accuracy:
        phases["onnx_accuracy"] = lambda: onnx_accuracy(ctx)
    if args.cold_start:
        phases["cold_start"] = lambda: cold_start(ctx)
    return phases


def _matmul_params_of(path: Path) -> int:
    from transformers import AutoModelForSequenceClassification

    return matmul_params(AutoModelForSequenceClassification.from_pretrained(path))


def summarize(ctx: dict, results: dict) -> dict[str, Any]:
    """The ratios the targets are about, and prediction agreement with the pipeline."""
    peak = _device_peak(ctx["device"])
    for row in results.values():
        for part in (row, row.get("train", {}), row.get("train_steady", {})):
            if "tflops" in part:
                part["share_of_peak"] = round(part["tflops"] / peak, 4) if peak else None
    preds, summary = ctx.get("predictions", {}), {"device_peak_tflops": peak}
    for name, setting in (("pipeline", "pipeline, default batch_size"),
                          ("tutorial", "fp32, batch 64, unsorted")):  # fmt: skip
        reference = preds.get(setting)
        for other, predicted in preds.items() if reference else ():
            same = sum(a == b for a, b in zip(predicted, reference, strict=True))
            summary.setdefault(f"agreement_with_{name}", {})[other] = round(
                same / len(reference), 5
            )
    tut = results.get("train_tutorial")
    for name, new in results.items():
        if not tut or not name.startswith("train_newsclf"):
            continue
        suffix = name.removeprefix("train_newsclf")
        if tut["time_to_target_s"] and new["time_to_target_s"]:
            ratio = new["time_to_target_s"] / tut["time_to_target_s"]
            summary[f"time_to_target_ratio{suffix}"] = round(ratio, 3)
        speedup = new["train"]["samples_per_s"] / tut["train"]["samples_per_s"]
        summary[f"train_speedup{suffix}"] = round(speedup, 2)
        if "train_steady" in new and "train_steady" in tut:
            steady = new["train_steady"]["samples_per_s"] / tut["train_steady"]["samples_per_s"]
            summary[f"train_steady_speedup{suffix}"] = round(steady, 2)
    for base in ("infer_pipeline", "infer_tutorial"):
        for fast in [n for n in results if n.startswith(("infer_newsclf", "infer_onnx"))]:
            if base in results:
                ratio = results[fast]["samples_per_s"] / results[base]["samples_per_s"]
                summary[f"{fast}_vs_{base.removeprefix('infer_')}"] = round(ratio, 2)
    return summary


def _device_peak(device: Any) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def machine(device: Any) -> dict[str, Any]:
    import torch
    import transformers

    from newsclf.precision import cpu_has_native_bf16

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "loadavg_start": os.getloadavg(),
        "cpu_bf16_instructions": cpu_has_native_bf16(), "onnxruntime": _version("onnxruntime"),
        "lscpu_model_name": _lscpu_model(),
        "note": "2 cores shared with other engineers' jobs: see loadavg per phase",
    }  # fmt: skip
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _lscpu_model() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")), None)  # fmt: skip


def print_table(report: dict) -> None:
    head = "| phase | setting | samples/s | tokens/s | TFLOP/s | test acc | peak RSS MiB | time to target s |"
    print("\n" + head + "\n" + "|---" * 8 + "|")
    for name, row in report["phases"].items():
        part = row.get("train_steady", row.get("train", row))  # steady state where measured
        if "samples_per_s" not in part:  # export, accuracy, cold start: printed as JSON
            print(f"| {name} | {json.dumps(row)[:300]} |")
            continue
        acc = row.get("test_accuracy") or (
            row["epochs"][-1]["test_accuracy"] if "epochs" in row else ""
        )
        print(
            f"| {name} | {row.get('setting', row.get('recipe', ''))[:60]} | {part['samples_per_s']} "
            f"| {part['tokens_per_s']} | {part['tflops']} | {acc} | {row['rss_peak_mib']} "
            f"| {row.get('time_to_target_s', '')} |"
        )
    print("\n" + json.dumps(report["summary"], indent=2))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    ctx = setup(args)
    info = machine(ctx["device"])
    started = time.perf_counter()
    out = args.out or HERE / "results" / f"{ctx['device'].type}-{dt.date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)

    def write(results: dict) -> dict[str, Any]:
        """The report so far: written after every phase, so a run cut short keeps its phases."""
        info["loadavg_end"] = os.getloadavg()
        info["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        report = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "device": ctx["device"].type, "quick": args.quick,
            "target_accuracy": args.target, "train_rows": len(ctx["train"]),
            "test_rows": len(ctx["test_texts"]), "inference_rows": len(ctx["infer_texts"]),
            "machine": info, "phases": results, "summary": summarize(ctx, results),
        }  # fmt: skip
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        tmp.replace(out)
        return report

    report = write(run_phases(ctx, on_phase=write))
    print_table(report)
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    main()
