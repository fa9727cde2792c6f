"""The training run: config -> data -> model -> epochs with validation -> best checkpoint -> test.

The run is written to a staging directory next to its final place and moved there only when
it is complete, so a failed run never leaves a half-written `runs/<name>/` behind.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import OutputError, RunExistsError
from newsclf.paths import check_writable_dir
from newsclf.predict import pad_rows, round_up, show_progress

if TYPE_CHECKING:
    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData


# Batches pad to a multiple of 8: tensor cores take matrix sizes in multiples of 8.
PAD_MULTIPLE = 8


@dataclass
class RunResult:
    run_dir: Path
    best_epoch: int
    best_val_accuracy: float
    test_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


def train(cfg: TrainConfig) -> RunResult:
    """Fine-tune `cfg.model` on `cfg.data`; write the run directory; return its headline numbers."""
    from accelerate.utils import set_seed

    from newsclf.data import load_data, tokenize
    from newsclf.model import build_model, check_max_length, load_tokenizer, resolve_model

    cfg.validate()
    final_dir = cfg.run_dir
    # Everything that can be checked is checked before any slow work, and nothing is written.
    _check_run_dir(final_dir, cfg.overwrite)
    check_max_length(resolve_model(cfg.model), cfg.max_length)
    if _quiet(cfg):
        _silence_library_progress()
    set_seed(cfg.seed)
    data = load_data(cfg)
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, data.label_names)
    # Only train goes through the DataLoader; evaluation tokenizes in its length-sorted loop.
    train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)

    staging = final_dir.with_name(f".{final_dir.name}.incomplete")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        cfg.save_yaml(staging / "config.yaml")
        _write_json(staging / "data.json", data.summary())
        _say(_describe(cfg, data, model))
        history = fit(cfg, model, tokenizer, train_set, data, staging)
        test_metrics = _test(cfg, data, staging, history)
        _publish(staging, final_dir)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(
            f"Cannot write the run to {final_dir}: {err.strerror or err} ({err.filename}). "
            "Free some space, or pick another --output-dir."
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _say(f"\nRun written to {final_dir}/ (best model: {final_dir / 'best_model'})")
    best = history["epochs"][history["best_epoch"] - 1]
    return RunResult(
        final_dir, history["best_epoch"], best["val_accuracy"], test_metrics, history["epochs"]
    )


def fit(
    cfg: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_set: Any,
    data: LoadedData,
    run_dir: Path,
    on_epoch: Callable[[int, dict], bool] | None = None,
) -> dict:
    """The epoch loop. Saves the best epoch by validation accuracy to `run_dir/best_model`.

    `on_epoch(epoch, history)`, if given, runs after each epoch's checkpoint; returning True
    stops training (the benchmark scores the saved model there).
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    from newsclf.evaluate import compute_metrics
    from newsclf.predict import autocast_dtype, infer_texts

    _enable_tf32()
    _forget_accelerator_precision()
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(cfg),
        # Host-to-GPU copies from pinned memory overlap with compute instead of blocking.
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
    )
    loader = _train_loader(cfg, tokenizer, train_set, _rows_device(cfg, accelerator.device))
    optimizer = _adamw(model, cfg)
    steps = cfg.epochs * len(loader)
    scheduler = get_scheduler(
        "linear",
        optimizer,
        num_warmup_steps=int(cfg.warmup_ratio * steps),
        num_training_steps=steps,
    )
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    # Validation runs eagerly: compiling the eval graphs too costs more than 500 rows save.
    eager_model = model
    if cfg.compile:
        model = _compile(model)
    eval_dtype = autocast_dtype(cfg.precision, accelerator.device)
    val = data.splits["validation"]
    history: dict[str, Any] = {"best_epoch": 0, "epochs": []}
    best_accuracy = -1.0
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        # Summed on the device: reading the loss every step would stall the GPU on each batch.
        loss_sum = torch.zeros((), device=accelerator.device)
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=_quiet(cfg), leave=False)
        for step, batch in enumerate(bar, 1):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if cfg.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.detach()
            if step % 25 == 0 and not bar.disable:  # .item() waits for the GPU: only for the bar
                bar.set_postfix(loss=f"{loss_sum.item() / step:.4f}")
        train_loss = loss_sum.item() / len(loader)  # .item() waits for the last step
        train_seconds = time.perf_counter() - start
        logits, _ = infer_texts(
            eager_model,
            tokenizer,
            val["text"],
            batch_size=cfg.eval_batch_size,
            max_length=cfg.max_length,
            dtype=eval_dtype,
            pad_to_multiple_of=PAD_MULTIPLE,
            progress=not _quiet(cfg),
        )
        labels = torch.tensor(val["label"])
        val_loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits), labels).item()
        metrics = compute_metrics(val["label"], logits.argmax(axis=1), data.label_names)
        row = {
            "epoch": epoch,
            "train_loss": round(train_loss, 5),
            "val_loss": round(val_loss, 5),
            "val_accuracy": round(metrics["accuracy"], 5),
            "val_f1": round(metrics["macro_f1"], 5),
            "learning_rate": scheduler.get_last_lr()[0],
            # The optimizer steps alone, then the whole epoch (validation and checkpoint too).
            "train_seconds": round(train_seconds, 2),
            "seconds": round(time.perf_counter() - start, 2),
        }
        history["epochs"].append(row)
        improved = metrics["accuracy"] > best_accuracy
        if improved:
            best_accuracy = metrics["accuracy"]
            history["best_epoch"] = epoch
            _save_checkpoint(
                accelerator.unwrap_model(eager_model), tokenizer, run_dir / "best_model"
            )
        _write_json(run_dir / "history.json", history)
        _say(_epoch_line(row, improved))
        if on_epoch is not None and on_epoch(epoch, history):
            break
    return history


def _train_loader(cfg: TrainConfig, tokenizer: Any, train_set: Any, device: Any = None) -> Any:
    """Shuffled batches; with group_by_length, texts of similar length share a batch.

    Grouping keeps the batch order random (LengthGroupedSampler sorts within random
    mega-batches), so the gradient noise stays, but padding, which on AG News is about half
    of a randomly drawn batch, mostly goes. Each batch is cut from pre-padded tensors in one
    indexing operation rather than collated row by row in Python; with `device` a GPU, those
    tensors live on it, so a step costs no host-to-device copy of tokens.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(cfg.seed)
    lengths = train_set["length"]
    if cfg.group_by_length:
        sampler = LengthGroupedSampler(cfg.batch_size, lengths=lengths, generator=generator)
    else:
        sampler = RandomSampler(train_set, generator=generator)
    rows = PaddedRows(train_set, tokenizer.pad_token_id or 0, PAD_MULTIPLE, device)
    return DataLoader(
        range(len(rows)),  # the loader hands row ids to `rows.collate`, which cuts the batch
        batch_sampler=BatchSampler(sampler, cfg.batch_size, drop_last=False),
        collate_fn=rows.collate,
        num_workers=cfg.num_workers,
        pin_memory=rows.device.type == "cpu" and torch.cuda.is_available(),
    )


def _rows_device(cfg: TrainConfig, device: Any) -> Any:
    """Where the padded training rows live: on the GPU unless DataLoader workers cut the
    batches (worker processes cannot touch CUDA tensors)."""
    import torch

    return device if cfg.num_workers == 0 else torch.device("cpu")


class PaddedRows:
    """A tokenized split held as right-padded tensors; `collate(row_ids)` is a whole batch,
    cut to its longest row rounded up to `multiple` (what DataCollatorWithPadding would give).

    The token columns and labels live on `device`; the lengths stay on the host, so the
    width of a batch is known without waiting for the device."""

    def __init__(self, dataset: Any, pad_id: int, multiple: int, device: Any = None) -> None:
        import torch

        self.device = torch.device(device or "cpu")
        self.lengths = torch.tensor(list(dataset["length"]))
        self.multiple = multiple
        longest = int(self.lengths.max()) if len(dataset) else 1
        width = round_up(longest, multiple)
        self.columns = {}
        for name in ("input_ids", "token_type_ids", "attention_mask"):
            if name in dataset.column_names:
                fill = pad_id if name == "input_ids" else 0
                self.columns[name] = pad_rows(dataset[name], width, fill).to(self.device)
        self.labels = torch.tensor(list(dataset["label"])).to(self.device)

    def __len__(self) -> int:
        return len(self.labels)

    def collate(self, rows: list[int]) -> dict[str, Any]:
        import torch

        index = torch.as_tensor(rows)
        width = round_up(int(self.lengths[index].max()), self.multiple)
        if self.device.type == "cuda":  # from pinned memory the copy does not wait for the GPU
            index = index.pin_memory().to(self.device, non_blocking=True)
        batch = {name: col[index, :width] for name, col in self.columns.items()}
        batch["labels"] = self.labels[index]
        return batch


def _adamw(model: Any, cfg: TrainConfig) -> Any:
    """AdamW with weight decay on matrices only: biases and LayerNorm weights are 1-D."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    # The fused kernel (CUDA and CPU) updates every parameter in one pass over memory.
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)


def _mixed_precision(cfg: TrainConfig) -> str:
    """Accelerate's mixed_precision for cfg.precision; 'auto' is bf16 where the chip has it."""
    import torch

    from newsclf.predict import autocast_dtype

    if cfg.precision == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return "bf16" if autocast_dtype("auto", device) is not None else "no"
    return {"fp32": "no"}.get(cfg.precision, cfg.precision)


def _forget_accelerator_precision() -> None:
    """Accelerate keeps one mixed-precision setting per process and refuses a second run with
    another (fp32 after bf16, in one notebook or test session); the process-level (distributed)
    state is kept."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


def _compile(model: Any) -> Any:
    """torch.compile with the batch and sequence sizes symbolic: one graph serves every
    length bucket and the short last batch, where static shapes compiled one graph each."""
    import torch

    # A fallback: should a graph specialise anyway, more recompiles than the default 8.
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), 64))
    return torch.compile(model, dynamic=True)


def _enable_tf32() -> None:
    """fp32 matmuls (the optimizer's master weights, any fp32 run) on TF32 tensor cores."""
    import torch

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")


def _save_checkpoint(model: Any, tokenizer: Any, target: Path) -> None:
    """Write next to the target, then swap, so best_model/ is never half-written."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _test(cfg: TrainConfig, data: LoadedData, run_dir: Path, history: dict) -> dict:
    """Score the saved best model, as a user would load it, on the test split."""
    from newsclf.evaluate import format_report, format_samples, score_split
    from newsclf.predict import Classifier

    classifier = Classifier.from_pretrained(run_dir / "best_model", precision=cfg.precision)
    test = data.splits["test"]
    metrics, inference = score_split(
        classifier,
        test["text"],
        test["label"],
        "test",
        batch_size=cfg.eval_batch_size,
        return_embeddings=cfg.visuals,
        progress=not _quiet(cfg),
    )
    metrics["best_epoch"] = history["best_epoch"]
    _write_json(run_dir / "test_metrics.json", metrics)
    _say(f"\nTest set, best epoch {history['best_epoch']}:\n{format_report(metrics)}")
    _say("\nSample predictions:\n" + format_samples(metrics["samples"]))
    if cfg.visuals:
        from newsclf.visuals import write_visuals

        for path in write_visuals(run_dir, data, inference, cfg, history, metrics):
            _say(f"wrote {path.name}")
    return metrics


def _check_run_dir(run_dir: Path, overwrite: bool) -> None:
    check_writable_dir(run_dir.parent, "--output-dir")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunExistsError(
            f"{run_dir} is a file, not a run directory. Pick another --name or --output-dir."
        )
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise RunExistsError(
            f"{run_dir} already holds a run. Pick another --name, or pass --overwrite to replace it."
        )


def _publish(staging: Path, final_dir: Path) -> None:
    if final_dir.exists():
        shutil.rmtree(final_dir)
    staging.rename(final_dir)


def _describe(cfg: TrainConfig, data: LoadedData, model: Any) -> str:
    from newsclf.model import count_parameters

    sizes = ", ".join(f"{s} {len(ds):,}" for s, ds in data.splits.items())
    notes = "".join(f"Note: {note}\n" for note in data.notes)
    return (
        f"{notes}Data: {data.source} ({sizes}); classes: {', '.join(data.label_names)}\n"
        f"Model: {cfg.model} ({count_parameters(model) / 1e6:.1f}M parameters); "
        f"{cfg.epochs} epoch(s), batch {cfg.batch_size}, lr {cfg.learning_rate}, precision {cfg.precision}"
    )


def _epoch_line(row: dict, improved: bool) -> str:
    return (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
        f"val acc {row['val_accuracy']:.2%}  val F1 {row['val_f1']:.4f}  {row['seconds']:.0f}s"
        + ("  (best so far, saved)" if improved else "")
    )


def _silence_library_progress() -> None:
    """Loading and tokenizing bars from datasets and transformers are noise in logs and CI."""
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()


def _quiet(cfg: TrainConfig) -> bool:
    return not show_progress(cfg.quiet)


def _say(text: str) -> None:
    print(text, flush=True)


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
