"""The precision rules, in one place: which precisions a user may ask for, what `auto` resolves
to on each device, the dtype inference weights are stored in, and the fp32 matmul setting.

Training, inference, the server and the benchmarks all ask this module; none decides alone.
torch is imported inside the functions, so importing this module stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsclf.errors import ConfigError

if TYPE_CHECKING:
    import torch

# What `newsclf train --precision` accepts.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# What `newsclf serve --precision` accepts: fp16 pays only on a GPU, and the server runs on CPUs.
SERVE_PRECISIONS = ("auto", "fp32", "bf16")

# bf16 on CPUs with bf16 instructions trains ~1.6x faster at equal accuracy (docs/performance.md:
# 90.25% vs 90.26% on the full test split after a default run), so 'auto' picks it there.
AUTO_BF16_ON_CPU = True


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast to, or None for fp32. 'auto' means bf16 where the hardware has it."""
    import torch

    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and AUTO_BF16_ON_CPU:
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return None


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, AMX): there bf16 autocast is faster
    than fp32; elsewhere oneDNN emulates it and it is slower."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def default_device() -> torch.device:
    """The device training runs on when nothing else is said: the GPU if there is one."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision_name(dtype: torch.dtype | None) -> str:
    """'fp32', 'bf16' or 'fp16': how a resolved dtype is shown (server /health, benchmarks)."""
    if dtype is None:
        return "fp32"
    short = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
    name = str(dtype).removeprefix("torch.")
    return short.get(name, name)


def training_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype a training run with `precision` uses on `default_device()`."""
    return autocast_dtype(precision, default_device())


def accelerate_mixed_precision(precision: str) -> str:
    """Accelerate's mixed_precision for `precision`; 'auto' is bf16 where the chip has it."""
    return precision_name(training_dtype(precision)).replace("fp32", "no")


def cast_for_inference(model: Any, dtype: torch.dtype | None) -> Any:
    """Inference weights are stored in the autocast dtype once, rather than cast on every
    forward by autocast (which still runs LayerNorm and softmax in fp32): ~15% faster on a
    2-core CPU. Training keeps fp32 master weights."""
    return model if dtype is None else model.to(dtype)


def enable_tf32() -> None:
    """fp32 matmuls (the optimizer's master weights, any fp32 run) on TF32 tensor cores."""
    import torch

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")


def forget_accelerator_precision() -> None:
    """Accelerate keeps one mixed-precision setting per process and refuses a second run with
    another (fp32 after bf16, in one notebook or test session); the process-level (distributed)
    state is kept."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


def check_precision(precision: str, choices: tuple[str, ...] = PRECISIONS) -> None:
    """The one check of a precision name, for the train config and the server options."""
    if precision not in choices:
        raise ConfigError(f"precision={precision!r}: expected one of {', '.join(choices)}.")
