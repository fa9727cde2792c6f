"""The precision rules, in one place: which precisions a user may ask for, what `auto` resolves
to on each device, the dtype inference weights are stored in, and the fp32 matmul setting.

Training, inference, the server and the benchmarks all ask this module; none decides alone.
torch is imported inside the functions, so importing this module stays instant.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newsclf.errors import ConfigError

if TYPE_CHECKING:
    import torch

# What `newsclf train --precision` accepts.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# What `newsclf serve --precision` accepts: fp16 pays only on a GPU, and the server runs on CPUs.
SERVE_PRECISIONS = ("auto", "fp32", "bf16")

# fp16 training needs a gradient scaler and pays only on GPUs (Accelerate refuses it on a CPU).
FP16_TRAINING_DEVICES = ("cuda",)

# bf16 on CPUs with bf16 instructions trains faster at equal accuracy (measured:
# docs/performance.md), so 'auto' picks it there.
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


def cast_for_inference(model: Any, dtype: torch.dtype | None) -> Any:
    """Inference weights are stored in the autocast dtype once, rather than cast on every
    forward by autocast (which still runs LayerNorm and softmax in fp32): faster on a CPU
    (docs/performance.md). Training keeps fp32 master weights."""
    return model if dtype is None else model.to(dtype)


def enable_tf32() -> None:
    """fp32 matmuls (the optimizer's master weights, any fp32 run) on TF32 tensor cores."""
    import torch

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")


def check_precision(precision: str, choices: tuple[str, ...] = PRECISIONS) -> None:
    """The one check of a precision name, for the train config and the server options."""
    if precision not in choices:
        raise ConfigError(f"precision={precision!r}: expected one of {', '.join(choices)}.")


def check_training_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype training with `precision` uses on `device`; fp16 where it cannot
    train is refused before any slow work."""
    dtype = autocast_dtype(precision, device)
    if precision_name(dtype) == "fp16" and device.type not in FP16_TRAINING_DEVICES:
        raise ConfigError(
            f"precision='fp16' on {device.type}: fp16 training runs on CUDA GPUs only (with a "
            "gradient scaler). Use --precision bf16 or fp32 here."
        )
    return dtype


@dataclass
class TrainingPrecision:
    """Mixed precision for a training loop, applied by newsclf rather than by Accelerate.

    Accelerate keeps one mixed-precision setting per process and refuses a second Accelerator
    with another (a bf16 run, then an fp32 one, in one notebook or test session), so the
    Accelerator is always made with mixed_precision="no", and this does what
    `Accelerator(mixed_precision=...)` did: each forward pass under `torch.autocast`, its
    half-precision outputs cast back to fp32; for fp16, a gradient scaler (to be registered
    for checkpointing, so a resumed run continues with its scale).
    """

    device_type: str
    dtype: Any = None  # torch.bfloat16 / torch.float16, or None for fp32
    scaler: Any = None  # torch.amp.GradScaler, for fp16 only

    @classmethod
    def for_training(cls, precision: str, device: torch.device) -> TrainingPrecision:
        import torch

        dtype = check_training_precision(precision, device)
        scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
        return cls(device.type, dtype, scaler)

    @property
    def name(self) -> str:
        return precision_name(self.dtype)

    def autocast(self) -> AbstractContextManager:
        import torch

        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def forward(self, model: Any, batch: dict[str, Any]) -> Any:
        """`model(**batch)` under autocast, its half-precision tensors returned in fp32."""
        import torch

        with self.autocast():
            out = model(**batch)
        if self.dtype is not None:
            for key, value in out.items():
                if torch.is_tensor(value) and value.dtype in (torch.float16, torch.bfloat16):
                    out[key] = value.float()
        return out

    def scale(self, loss: Any) -> Any:
        """The loss to backpropagate: multiplied by the fp16 scale, so small gradients
        survive in fp16."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def unscale(self, optimizer: Any) -> None:
        """Gradients back to their true size, before clipping them."""
        if self.scaler is not None:
            self.scaler.unscale_(_inner(optimizer))

    def step(self, optimizer: Any, sync_gradients: bool) -> None:
        """The optimizer step. With a scaler only at the end of an accumulation (the scaler
        would otherwise unscale gradients still accumulating); it skips a step whose
        gradients overflowed and adjusts the scale."""
        if self.scaler is None:
            optimizer.step()  # Accelerate's optimizer itself skips non-final accumulation steps
        elif sync_gradients:
            self.scaler.step(_inner(optimizer))
            self.scaler.update()


def _inner(optimizer: Any) -> Any:
    """The torch optimizer inside Accelerate's wrapper, as Accelerate hands it to its scaler
    (the fused AdamW then takes the scale and the overflow flag without a host sync)."""
    return getattr(optimizer, "optimizer", optimizer)
