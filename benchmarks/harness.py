"""The run that the speed benchmarks share (bench_train, bench_infer, bench_onnx and bench_speed,
which runs them all in one process); not a benchmark itself.

Their common flags; the model and data under test (`Bench`); throughput arithmetic; phases run
one after another, each with its own peak memory; the summary; and the JSON report, written
after every phase, with the keys of the reports in benchmarks/results/ (`machine`, `phases`,
`summary`, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import common

if TYPE_CHECKING:
    import numpy as np
    import torch

    from newsclf.config import TrainConfig

Phase = Callable[[], dict[str, Any]]
Summary = Callable[["Bench", dict[str, Any]], dict[str, Any]]

# Dense bf16 tensor-core peak from the vendors' spec sheets, TFLOP/s; CPUs: unknown (None).
PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0,
               "H100 NVL": 835.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0}  # fmt: skip


@dataclass
class Bench:
    """What the phases of one run share. `model_dir` is the model the inference and ONNX phases
    time (--trained, or the one train_newsclf saves) and `matmul_params` its parameters outside
    embedding tables; `predictions` (by setting) and `onnx_dirs` are filled in by the phases
    that make them."""

    cfg: TrainConfig  # newsclf's config: --model, --set, the row limits
    data: Any  # newsclf.data.load_data's splits and label names
    device: torch.device
    target: float  # the test accuracy a training loop stops at
    repeats: int  # each inference phase timed this many times, the fastest kept
    test_texts: list[str]
    test_labels: np.ndarray
    infer_texts: list[str]  # the test rows inference is timed on (--infer-rows)
    infer_labels: list[int]
    infer_lengths: list[int]  # tokens of each inference text
    workdir: Path  # where models and exports are saved
    model_dir: Path | None = None
    matmul_params: int = 0
    predictions: dict[str, list[int]] = field(default_factory=dict)
    onnx_dirs: dict[str, Path] = field(default_factory=dict)

    def sync(self) -> None:
        """Wait for the device's queued work, so that a clock read after it counts that work."""
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()

    def trained(self) -> Path:
        """The model under test; there is none before train_newsclf has run without --trained."""
        if self.model_dir is None:
            sys.exit("no model to time: run train_newsclf, or pass --trained DIR")
        return self.model_dir

    def use_model(self, path: Path, params: int | None = None) -> None:
        """Time `path` from now on; its matmul parameters are counted unless given."""
        self.model_dir = path
        self.matmul_params = params if params is not None else matmul_params_of(path)


# --- flags --------------------------------------------------------------------------------


def parser(doc: str) -> argparse.ArgumentParser:
    """The flags every speed benchmark takes: device, model, data, and where results go."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--model", default=None, help="model name or dir (default: newsclf's)")
    p.add_argument("--target", type=float, default=0.89, help="test accuracy to reach")
    p.add_argument("--train-rows", type=int, default=None, help="subsample train (stratified)")
    p.add_argument("--test-rows", type=int, default=None, help="subsample test (stratified)")
    p.add_argument("--infer-rows", type=int, default=None, help="test rows for inference timing")
    p.add_argument(
        "--infer-repeats",
        type=int,
        default=1,
        help="time each inference phase N times, keep the fastest",
    )
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="newsclf TrainConfig overrides"
    )
    p.add_argument("--skip", nargs="*", default=[], help="phases to skip, e.g. infer_pipeline")
    p.add_argument("--quick", action="store_true", help="small subsets, one epoch each")
    p.add_argument("--out", type=Path, default=None, help="JSON output path")
    p.add_argument("--workdir", type=Path, default=None, help="where models are saved")
    p.add_argument(
        "--trained", type=Path, default=None,
        help="a saved model for the inference phases when train_newsclf is skipped",
    )  # fmt: skip
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, apply --quick, and keep argv for the report's `command`."""
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.train_rows, args.test_rows = 64, 64
        args.set = ["epochs=1", "max_eval_samples=32", *args.set]
    return args


def parse_args(
    doc: str,
    add_args: Callable[[argparse.ArgumentParser], None],
    argv: list[str] | None,
    needs_trained: str | None = None,
) -> argparse.Namespace:
    """A script's flags: the shared ones plus its own (`add_args`), parsed. `needs_trained`,
    if given, is the error shown when --trained DIR is missing."""
    p = parser(doc)
    add_args(p)
    args = parse(p, argv)
    if needs_trained and not args.trained:
        p.error(f"--trained DIR: {needs_trained}")
    return args


# --- the model and data under test --------------------------------------------------------


def setup(args: argparse.Namespace) -> Bench:
    """Config, data, device, the inference texts and their lengths, and --trained if given."""
    import tempfile

    import numpy as np
    import torch

    from newsclf.config import TrainConfig
    from newsclf.data import load_data
    from newsclf.training.model import load_tokenizer

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is visible to PyTorch.")
    overrides = {**common.FIXED_RECIPE, **common.pairs(args.set)}
    if args.model:
        overrides["model"] = args.model
    cfg = TrainConfig(
        quiet=True, visuals=False, max_train_samples=args.train_rows,
        max_test_samples=args.test_rows, **overrides,
    ).validate()  # fmt: skip
    data = load_data(cfg)
    test = data.splits["test"]
    texts, labels = list(test["text"]), list(test["label"])
    rows = _infer_rows(len(texts), args.infer_rows, cfg.seed)
    infer_texts = [texts[i] for i in rows]
    tokenizer = load_tokenizer(cfg.model)
    lengths = [len(ids) for ids in tokenizer(infer_texts, truncation=True,
                                             max_length=cfg.max_length)["input_ids"]]  # fmt: skip
    bench = Bench(
        cfg=cfg, data=data, device=torch.device(args.device), target=args.target,
        repeats=args.infer_repeats, test_texts=texts, test_labels=np.array(labels),
        infer_texts=infer_texts, infer_labels=[labels[i] for i in rows], infer_lengths=lengths,
        workdir=args.workdir or Path(tempfile.mkdtemp(prefix="newsclf-bench-")),
    )  # fmt: skip
    if args.trained:
        bench.use_model(args.trained)
    return bench


def _infer_rows(total: int, wanted: int | None, seed: int) -> list[int]:
    """All test rows, or a seeded random subset of them, in their original order."""
    import numpy as np

    if not wanted or wanted >= total:
        return list(range(total))
    return sorted(np.random.default_rng(seed).choice(total, wanted, replace=False).tolist())


# --- throughput ---------------------------------------------------------------------------


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


def matmul_params_of(path: Path) -> int:
    from transformers import AutoModelForSequenceClassification

    return matmul_params(AutoModelForSequenceClassification.from_pretrained(path))


# --- the run ------------------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    phases: Callable[[Bench], dict[str, Phase]],
    summaries: list[Summary],
    script: str,
    suffix: str = "",
) -> dict[str, Any]:
    """Set up, run `phases(bench)` but --skip, and write the report after every phase (a run
    cut short keeps its phases) to --out or benchmarks/results/<device>-<date><suffix>.json."""
    bench = setup(args)
    info = common.machine(bench.device)
    info["note"] = "2 cores shared with other engineers' jobs: see loadavg per phase"
    started = time.perf_counter()
    out = args.out or common.result_path(bench.device.type, suffix)
    command = common.command_line(script, args.argv)

    def write(results: dict) -> dict[str, Any]:
        info["loadavg_end"] = os.getloadavg()
        info["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        report = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "device": bench.device.type, "quick": args.quick,
            "target_accuracy": args.target, "train_rows": len(bench.data.splits["train"]),
            "test_rows": len(bench.test_texts), "inference_rows": len(bench.infer_texts),
            "machine": info, "phases": results, "summary": summarize(bench, results, summaries),
        }  # fmt: skip
        common.write_json(out, report)
        return report

    report = write(run_phases(bench, phases(bench), args.skip, on_phase=write))
    print_table(report)
    print(f"\nwrote {out}")
    return report


def run_phases(
    bench: Bench, phases: dict[str, Phase], skip: list[str], on_phase: Callable[[dict], Any]
) -> dict[str, Any]:
    """Each phase from the same seed, with its own peak memory and the load average after it
    (the cores may be shared)."""
    from accelerate.utils import set_seed

    memory, results = common.Memory(bench.device), {}
    for name, phase in phases.items():
        if name in skip:
            continue
        print(f"{name} ...", flush=True)
        set_seed(bench.cfg.seed)
        rss_start = memory.reset()
        results[name] = {**phase(), "rss_start_mib": rss_start, **memory.peak()}
        results[name]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        on_phase(results)
    return results


def summarize(bench: Bench, results: dict, summaries: list[Summary]) -> dict[str, Any]:
    """Each TFLOP/s as a share of the device's peak, then the benchmarks' own ratios."""
    peak = _device_peak(bench.device)
    for row in results.values():
        for part in (row, row.get("train", {}), row.get("train_steady", {})):
            if "tflops" in part:
                part["share_of_peak"] = round(part["tflops"] / peak, 4) if peak else None
    summary: dict[str, Any] = {"device_peak_tflops": peak}
    for part in summaries:
        summary.update(part(bench, results))
    return summary


def _device_peak(device: Any) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


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
