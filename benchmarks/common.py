"""What the benchmarks share: a clock that can leave work out, peak memory, the description of
the machine a result was measured on, and the JSON result writer.

Only the standard library at import time (torch and newsclf inside the functions that need
them): `--help` stays instant, and the cold-start child of bench_onnx can import this module
without adding to what it measures.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import json
import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The recipe the speed and accuracy benchmarks time and compare: the defaults before the recipe
# was read from the data (docs/recipe.md; texts truncated at 128 tokens), so their recorded figures
# stay comparable.
FIXED_RECIPE = {"epochs": 2, "max_length": 128, "long_texts": "truncate"}


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


# --- memory -------------------------------------------------------------------------------


def _status_kib(field: str, pid: int | str) -> int | None:
    """One KiB field of /proc/PID/status (VmRSS, VmHWM); None without it (not Linux, or the
    process has exited)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    prefix = field + ":"
    return next((int(ln.split()[1]) for ln in text.splitlines() if ln.startswith(prefix)), None)


def rss_mib() -> float:
    """This process's resident memory now, MiB (0.0 where /proc is missing)."""
    kib = _status_kib("VmRSS", "self")
    return round(kib / 1024, 1) if kib is not None else 0.0


def peak_rss_mib(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM), MiB, of process `pid` (0.0 once it has exited) or of this
    process: there, without /proc (not Linux), ru_maxrss, which no phase can reset."""
    kib = _status_kib("VmHWM", "self" if pid is None else pid)
    if kib is not None:
        return round(kib / 1024, 1)
    if pid is None:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return 0.0


class Memory:
    """Peak memory of one phase: GPU allocations on CUDA; on the CPU the process's peak RSS,
    reset between phases through /proc/self/clear_refs (Linux) so each phase has its own peak."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def reset(self) -> float:
        """Start a phase: free what the last one left, reset the peaks; the RSS now, MiB."""
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
        return rss_mib()

    def peak(self) -> dict[str, float]:
        import torch

        out = {"rss_peak_mib": peak_rss_mib()}
        if self.device.type == "cuda":
            out["gpu_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return out


# --- the machine --------------------------------------------------------------------------


def machine(device: Any = None) -> dict[str, Any]:
    """The machine a result comes from: CPU model (/proc/cpuinfo, and lscpu's name for it),
    cores, whether the CPU has native bf16 (AVX512-BF16 or AMX), library versions, the load
    average, and the GPU: `device`'s when given, else the visible one if any."""
    import torch
    import transformers

    from newsclf.precision import cpu_has_native_bf16

    info = {
        "cpu": _cpuinfo_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "loadavg_start": os.getloadavg(),
        "cpu_bf16_instructions": cpu_has_native_bf16(), "onnxruntime": _version("onnxruntime"),
        "lscpu_model_name": _lscpu_model(),
    }  # fmt: skip
    cuda = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
    if cuda:
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpuinfo_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _lscpu_model() -> str | None:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")), None)  # fmt: skip


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


# --- results ------------------------------------------------------------------------------


def result_path(prefix: str, suffix: str = "", day: dt.date | None = None) -> Path:
    """The default output: benchmarks/results/<prefix>-<date><suffix>.json."""
    return RESULTS / f"{prefix}-{day or dt.date.today()}{suffix}.json"


def write_json(path: Path, report: dict[str, Any]) -> Path:
    """Write `report` whole or not at all (a temporary file renamed over `path`), so that a run
    cut short between two writes keeps the last complete report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def command_line(script: str, argv: list[str]) -> str:
    """How the run was started, for the report, whichever way the script was run."""
    return " ".join(["python", f"benchmarks/{Path(script).name}", *argv])


def pairs(items: list[str]) -> dict[str, Any]:
    """--set/--also values: ["epochs=1", "lr=1e-4,batch_size=64"] -> {"epochs": 1, "lr": 1e-4,
    "batch_size": 64}, each value read as YAML (numbers, booleans, null)."""
    import yaml

    found = [kv.split("=", 1) for item in items for kv in item.split(",") if kv]
    return {k: yaml.safe_load(v) for k, v in found}
