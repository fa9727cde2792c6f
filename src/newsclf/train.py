"""The training run: config -> data -> model -> epochs with validation -> best checkpoint -> test.

A run is written to a staging directory, `.<name>.incomplete` next to its final place, and
moved there only when it is complete. Resumable checkpoints (`checkpoint-<step>/`) are written
there as training goes; a run that dies keeps its staging directory when it holds one, and
`newsclf train --resume runs/<name>` continues it. A run that fails before its first
checkpoint leaves nothing behind.

Under `accelerate launch`, every process trains on its shard of each epoch; only the main
process writes files and prints.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.batching import eval_loader, rows_device, train_loader
from newsclf.errors import NewsclfError, OutputError, RunExistsError, TrainingError
from newsclf.paths import check_writable_dir
from newsclf.precision import TrainingPrecision, check_training_precision, enable_tf32
from newsclf.predict import show_progress
from newsclf.rundir import EpochRow, History

if TYPE_CHECKING:
    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData


# How often (in batches) the summed loss is read back to catch a NaN: each read waits for the GPU.
LOSS_CHECK_EVERY = 25


@dataclass
class RunResult:
    run_dir: Path
    best_epoch: int
    best_val_accuracy: float
    test_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


def train(cfg: TrainConfig) -> RunResult:
    """Fine-tune `cfg.model` on `cfg.data`; write the run directory; return its headline numbers."""
    cfg.validate()
    # Everything that can be checked is checked before any slow work, and nothing is written.
    _check_run_dir(cfg.run_dir, cfg.overwrite)
    staging = rundir.staging_dir(cfg.run_dir)
    saved = rundir.checkpoints(staging)
    if saved and not cfg.overwrite:
        raise RunExistsError(
            f"{staging} holds an interrupted run of {cfg.run_dir} (last checkpoint: "
            f"{saved[-1].name}). Continue it with `newsclf train --resume {cfg.run_dir}`, or "
            "pass --overwrite to start over."
        )
    return _run(cfg, staging, checkpoint=None)


def resume(run: str | Path, quiet: bool | None = None) -> RunResult:
    """Continue an interrupted run from its last checkpoint, with its saved config.

    `run` is the run's final path (`runs/<name>`) or its staging directory
    (`runs/.<name>.incomplete`). The finished run equals an uninterrupted one (on CPU, with
    the same seed: the same history.json apart from the `seconds` fields)."""
    from newsclf.config import TrainConfig

    staging = _interrupted(Path(run))
    final_name = staging.name[1 : -len(rundir.STAGING_SUFFIX)]
    # The config's output_dir may be relative to where training started: use where the run is.
    cfg = TrainConfig.from_yaml(
        staging / rundir.CONFIG_YAML, output_dir=str(staging.parent), name=final_name
    )
    if quiet is not None:
        cfg.quiet = quiet
    _check_run_dir(cfg.run_dir, cfg.overwrite)
    return _run(cfg, staging, checkpoint=rundir.checkpoints(staging)[-1])


def _interrupted(run: Path) -> Path:
    """The staging directory of the interrupted run `run` names, or an error saying why not."""
    staging = run if run.name.endswith(rundir.STAGING_SUFFIX) else rundir.staging_dir(run)
    if not staging.is_dir():
        finished = (run / rundir.TEST_METRICS_JSON).is_file()
        raise RunExistsError(
            f"{run} is a finished run: there is nothing to resume. Train a new one with "
            "another --name."
            if finished
            else f"No interrupted run to resume at {run} (looked for {staging}/). Pass the "
            "path the run was training to, e.g. runs/NAME."
        )
    if not rundir.checkpoints(staging):
        raise RunExistsError(
            f"{staging} holds no checkpoint-<step>/ to resume from: the run stopped before its "
            "first one. Train it again (--overwrite), with --save-every N for earlier ones."
        )
    return staging


def _run(cfg: TrainConfig, staging: Path, checkpoint: Path | None) -> RunResult:
    from accelerate import PartialState
    from accelerate.utils import set_seed

    from newsclf.data import load_data, tokenize
    from newsclf.model import build_model, check_max_length, load_tokenizer, resolve_model

    check_max_length(resolve_model(cfg.model), cfg.max_length)
    if _quiet(cfg):
        _silence_library_progress()
    state = PartialState(cpu=_cpu_processes())  # under `accelerate launch`: joins the group
    check_training_precision(cfg.precision, state.device)  # before loading any data
    set_seed(cfg.seed)
    with state.main_process_first():  # the others then read what the main process cached
        data = load_data(cfg)
        tokenizer = load_tokenizer(cfg.model)
        model = build_model(cfg.model, data.label_names)
        train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    final_dir, test_metrics = cfg.run_dir, {}
    try:
        if state.is_main_process and checkpoint is None:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            cfg.save_yaml(staging / rundir.CONFIG_YAML)
            rundir.write_json(staging / rundir.DATA_JSON, data.summary())
        state.wait_for_everyone()
        _say(_describe(cfg, data, model))
        history = fit(cfg, model, tokenizer, train_set, data, staging, resume_from=checkpoint)
        if state.is_main_process:
            test_metrics = _test(cfg, data, staging, history)
            _publish(staging, final_dir)
        state.wait_for_everyone()
    except OSError as err:
        note = _keep_or_remove(staging, final_dir)
        raise OutputError(
            f"Cannot write the run to {final_dir}: {err.strerror or err} ({err.filename}). "
            f"Free some space, or pick another --output-dir. {note}".strip()
        ) from None
    except NewsclfError as err:
        note = _keep_or_remove(staging, final_dir)
        raise type(err)(f"{err} {note}".strip()) from None
    except BaseException:
        note = _keep_or_remove(staging, final_dir)
        if note:
            print(note, file=sys.stderr, flush=True)
        raise
    _say(f"\nRun written to {final_dir}/ (best model: {final_dir / rundir.BEST_MODEL})")
    return RunResult(
        final_dir,
        history.best_epoch,
        history.best.val_accuracy,
        test_metrics,
        history.to_dict()["epochs"],
    )


def _keep_or_remove(staging: Path, final_dir: Path) -> str:
    """A failed run keeps its staging directory when it holds a checkpoint to resume from;
    otherwise nothing of it is left. Returns what was kept, for the message."""
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return ""
    saved = rundir.checkpoints(staging)
    if not saved:
        shutil.rmtree(staging, ignore_errors=True)
        return ""
    return (
        f"The run so far is kept in {staging}/ (last checkpoint: {saved[-1].name}); continue "
        f"it with `newsclf train --resume {final_dir}`."
    )


@dataclass
class Position:
    """Where training is, saved with each checkpoint: enough to continue exactly."""

    epoch: int = 1  # the epoch in progress
    batches: int = 0  # its batches already trained on (per process)
    epoch_steps: int = 0  # its optimizer steps so far
    global_step: int = 0  # optimizer steps since the start
    loss_sum: float = 0.0  # the sum of its batch losses so far
    # The sampler's generator state at the epoch's start: it fixes the epoch's batch order.
    sampler_state: str = ""
    best_accuracy: float = -1.0  # unrounded, as compared
    finished: bool = False  # early stopping ended training


@dataclass
class _Engine:
    """The prepared objects of one fit: what the epoch, validation and checkpoint code share."""

    cfg: TrainConfig
    accelerator: Any
    model: Any  # possibly compiled
    eager_model: Any  # prepared, not compiled: validation and saving use it
    optimizer: Any
    scheduler: Any
    loader: Any
    val_loader: Any
    sampler_rng: Any  # the train sampler's generator
    precision: TrainingPrecision
    class_weights: Any
    tokenizer: Any
    label_names: list[str]
    run_dir: Path

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def fit(
    cfg: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_set: Any,
    data: LoadedData,
    run_dir: Path,
    on_epoch: Callable[[int, History], bool] | None = None,
    resume_from: Path | None = None,
) -> History:
    """The epoch loop. Saves the best epoch by validation accuracy to `run_dir/best_model`,
    and resumable checkpoints (`cfg.save_every`) to `run_dir/checkpoint-<step>`.

    `on_epoch(epoch, history)`, if given, runs after each epoch's checkpoint; returning True
    stops training (the benchmark scores the saved model there). `resume_from`, a checkpoint
    directory, continues the run that wrote it.
    """
    import torch

    engine = _setup(cfg, model, tokenizer, train_set, data, run_dir)
    history, pos = History(num_processes=engine.accelerator.num_processes), Position()
    if resume_from is not None:
        history, pos = _load_checkpoint(engine, Path(resume_from))
    try:
        while pos.epoch <= cfg.epochs and not pos.finished:
            row, improved = _epoch(engine, pos, history)
            _say(_epoch_line(row, improved))
            stop = _early_stop(cfg, history)
            pos = Position(
                epoch=row.epoch + 1,
                global_step=pos.global_step,
                sampler_state=_encode(engine.sampler_rng.get_state()),
                best_accuracy=pos.best_accuracy,
                finished=stop,
            )
            if cfg.save_every is None:
                _save_checkpoint(engine, pos, history)
            if on_epoch is not None and on_epoch(row.epoch, history):
                break
            if stop:
                break
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(_out_of_memory(cfg)) from None
    return history


def _setup(
    cfg: TrainConfig, model: Any, tokenizer: Any, train_set: Any, data: LoadedData, run_dir: Path
) -> _Engine:
    """Accelerator, loaders, optimizer and schedule, all prepared; the model compiled if asked."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration
    from transformers import get_scheduler

    from newsclf.data import tokenize

    enable_tf32()
    accelerator = Accelerator(
        cpu=_cpu_processes(),
        # newsclf applies the precision itself (TrainingPrecision): Accelerate's setting is
        # one per process, and a second run with another precision would be refused.
        mixed_precision="no",
        gradient_accumulation_steps=cfg.grad_accum,
        # Host-to-GPU copies from pinned memory overlap with compute instead of blocking.
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
    )
    device = rows_device(cfg.num_workers, accelerator.device)
    loader = train_loader(cfg, tokenizer, train_set, device)
    sampler_rng = loader.batch_sampler.sampler.generator
    # Validation is tokenized once; its batches are the same every epoch.
    val_set = tokenize(data.splits["validation"], tokenizer, cfg.max_length)
    val_loader = eval_loader(cfg, tokenizer, val_set, device)
    optimizer = _adamw(model, cfg)
    steps = cfg.epochs * math.ceil(len(loader) / cfg.grad_accum)
    scheduler = get_scheduler(
        "linear",
        optimizer,
        num_warmup_steps=int(cfg.warmup_ratio * steps),
        num_training_steps=steps,
    )
    model, optimizer, loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, loader, val_loader, scheduler
    )
    precision = TrainingPrecision.for_training(cfg.precision, accelerator.device)
    if precision.scaler is not None:  # saved and restored with the checkpoints
        accelerator.register_for_checkpointing(precision.scaler)
    # Validation runs eagerly: compiling the eval graphs too costs more than 500 rows save.
    compiled = _compile(model) if cfg.compile else model
    weights = None
    if cfg.class_weights == "balanced":
        counts = balanced_class_weights(train_set["label"], len(data.label_names))
        weights = _tensor(counts, accelerator.device)
    return _Engine(
        cfg,
        accelerator,
        compiled,
        model,
        optimizer,
        scheduler,
        loader,
        val_loader,
        sampler_rng,
        precision,
        weights,
        tokenizer,
        data.label_names,
        Path(run_dir),
    )


def _epoch(engine: _Engine, pos: Position, history: History) -> tuple[EpochRow, bool]:
    """Train the rest of epoch `pos.epoch`, validate, save the best model and history.json."""
    start = time.perf_counter()
    train_loss = _train_epoch(engine, pos, history)
    train_seconds = time.perf_counter() - start
    val_loss, metrics = _validate(engine)
    improved = metrics["accuracy"] > pos.best_accuracy
    if improved:
        pos.best_accuracy = metrics["accuracy"]
        history.best_epoch = pos.epoch
        _save_best_model(engine)
    row = EpochRow(
        epoch=pos.epoch,
        train_loss=round(train_loss, 5),
        val_loss=round(val_loss, 5),
        val_accuracy=round(metrics["accuracy"], 5),
        val_f1=round(metrics["macro_f1"], 5),
        learning_rate=engine.scheduler.get_last_lr()[0],
        steps=pos.epoch_steps,
        train_seconds=round(train_seconds, 2),
        seconds=round(time.perf_counter() - start, 2),
    )
    history.epochs.append(row)
    if engine.main:
        rundir.write_json(engine.run_dir / rundir.HISTORY_JSON, history.to_dict())
    return row, improved


def _train_epoch(engine: _Engine, pos: Position, history: History) -> float:
    """The optimizer steps of one epoch (from `pos.batches` on); returns the mean batch loss."""
    import torch
    from tqdm.auto import tqdm

    cfg, accelerator, model = engine.cfg, engine.accelerator, engine.model
    if pos.batches == 0:
        pos.sampler_state = _encode(engine.sampler_rng.get_state())
    model.train()
    # Summed on the device: reading the loss every step would stall the GPU on each batch.
    loss_sum = torch.tensor(pos.loss_sum, dtype=torch.float32, device=accelerator.device)
    recent: list[tuple[Any, int, float]] = []  # (loss, step, learning rate) since the last check
    bar = tqdm(
        total=len(engine.loader),
        initial=pos.batches,
        desc=f"epoch {pos.epoch}/{cfg.epochs}",
        disable=_quiet(cfg) or not engine.main,
        leave=False,
    )
    for batch in _epoch_batches(engine.loader, pos.batches):
        learning_rate = engine.scheduler.get_last_lr()[0]
        with accelerator.accumulate(model):
            loss = _loss(model, batch, engine.class_weights, engine.precision)
            accelerator.backward(engine.precision.scale(loss))
            if accelerator.sync_gradients and cfg.max_grad_norm:
                engine.precision.unscale(engine.optimizer)
                accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            engine.precision.step(engine.optimizer, accelerator.sync_gradients)
            engine.scheduler.step()
            engine.optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        pos.batches += 1
        recent.append((loss.detach(), pos.global_step + 1, learning_rate))
        bar.update()
        if pos.batches % LOSS_CHECK_EVERY == 0:  # .item() waits for the GPU: not every step
            _check_finite(engine, pos, recent)
            bar.set_postfix(loss=f"{loss_sum.item() / pos.batches:.4f}")
        if accelerator.sync_gradients:
            pos.global_step += 1
            pos.epoch_steps += 1
            if cfg.save_every and pos.global_step % cfg.save_every == 0:
                _check_finite(engine, pos, recent)  # never checkpoint a diverged model
                pos.loss_sum = loss_sum.item()
                _save_checkpoint(engine, pos, history)
    bar.close()
    _check_finite(engine, pos, recent)
    total = accelerator.reduce(loss_sum, reduction="sum").item()  # waits for the last step
    return total / (len(engine.loader) * accelerator.num_processes)


def _epoch_batches(loader: Any, skip: int) -> Iterator[Any]:
    """The epoch's batches after the first `skip` (those a resumed run already trained on).

    Starting an epoch draws the DataLoader's base seed from the global torch RNG. The
    uninterrupted run drew it before the checkpoint's RNG state was saved, so after skipping,
    the restored state is put back: the dropout masks then continue as they would have."""
    import torch
    from accelerate import skip_first_batches

    if not skip:
        yield from loader
        return
    rng = torch.get_rng_state()
    batches = iter(skip_first_batches(loader, skip))
    first = next(batches, None)
    torch.set_rng_state(rng)
    if first is not None:
        yield first
        yield from batches


def _loss(
    model: Any,
    batch: dict[str, Any],
    class_weights: Any = None,
    precision: TrainingPrecision | None = None,
) -> Any:
    """The batch's mean cross-entropy; with class weights, each row's weighted by its class."""
    precision = precision or TrainingPrecision("cpu")
    if class_weights is None:
        return precision.forward(model, batch).loss
    import torch

    labels = batch.pop("labels")
    logits = precision.forward(model, batch).logits
    return torch.nn.functional.cross_entropy(logits.float(), labels, weight=class_weights)


def balanced_class_weights(labels: Any, num_classes: int) -> list[float]:
    """n_rows / (n_classes x rows of the class), scikit-learn's 'balanced' rule; a class
    with no training rows weighs 0 (no row of it is ever weighed)."""
    counts = [0] * num_classes
    for label in labels:
        counts[label] += 1
    total = sum(counts)
    return [total / (num_classes * c) if c else 0.0 for c in counts]


def _check_finite(engine: _Engine, pos: Position, recent: list[tuple[Any, int, float]]) -> None:
    """Stop at the first NaN or infinite loss among the `recent` ones, naming its step."""
    import torch

    if not recent:
        return
    finite = torch.isfinite(torch.stack([loss for loss, _, _ in recent])).tolist()
    if all(finite):
        recent.clear()
        return
    loss, step, learning_rate = recent[finite.index(False)]
    saved = rundir.checkpoints(engine.run_dir)
    kept = (
        f"The last good checkpoint is {saved[-1]}."
        if saved
        else "No checkpoint was written before it."
    )
    raise TrainingError(
        f"The training loss became {loss.item()} at optimizer step {step} (epoch {pos.epoch}) "
        f"with learning rate {learning_rate:.3g}: training diverged and was stopped. {kept} "
        f"Lower --learning-rate (now {engine.cfg.learning_rate:g}, e.g. to "
        f"{engine.cfg.learning_rate / 10:g}), or keep --max-grad-norm on (now "
        f"{engine.cfg.max_grad_norm:g}), and train again."
    )


def _early_stop(cfg: TrainConfig, history: History) -> bool:
    stale = history.epochs[-1].epoch - history.best_epoch
    if cfg.patience is None or stale < cfg.patience or history.epochs[-1].epoch >= cfg.epochs:
        return False
    _say(
        f"Early stopping: no better validation accuracy for {stale} epoch(s) (--patience "
        f"{cfg.patience}); the best is epoch {history.best_epoch}."
    )
    return True


def _out_of_memory(cfg: TrainConfig) -> str:
    half = max(cfg.batch_size // 2, 1)
    return (
        f"The GPU ran out of memory at batch size {cfg.batch_size} (max length "
        f"{cfg.max_length}, precision {cfg.precision}). Try --batch-size {half} "
        f"--grad-accum {cfg.grad_accum * 2} (the same effective batch), a shorter --max-length, "
        "or --precision bf16; a smaller --eval-batch-size if it failed in validation."
    )


def _validate(engine: _Engine) -> tuple[float, dict[str, Any]]:
    """Validation loss and metrics, each process scoring its shard of the prepared loader;
    `gather_for_metrics` drops the rows repeated to even out the last batch."""
    import torch

    from newsclf.evaluate import compute_metrics

    model = engine.eager_model
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for batch in engine.val_loader:
            batch_labels = batch.pop("labels")
            out = engine.precision.forward(model, batch).logits.float()
            out, batch_labels = engine.accelerator.gather_for_metrics((out, batch_labels))
            logits.append(out)
            labels.append(batch_labels)
    model.train()
    all_logits, all_labels = torch.cat(logits).cpu(), torch.cat(labels).cpu()
    loss = torch.nn.functional.cross_entropy(all_logits, all_labels).item()
    predicted = all_logits.argmax(dim=1).numpy()
    return loss, compute_metrics(all_labels.numpy(), predicted, engine.label_names)


def _save_best_model(engine: _Engine) -> None:
    """Written beside best_model/, then swapped in: a crash keeps the previous best loadable."""
    if engine.main:
        target = engine.run_dir / rundir.BEST_MODEL
        tmp = rundir.temporary(target)
        shutil.rmtree(tmp, ignore_errors=True)
        engine.accelerator.unwrap_model(engine.eager_model).save_pretrained(tmp)
        engine.tokenizer.save_pretrained(tmp)
        rundir.replace_dir(tmp, target)
    engine.accelerator.wait_for_everyone()


def _save_checkpoint(engine: _Engine, pos: Position, history: History) -> None:
    """`save_state` (model, optimizer, schedule, RNG states, scaler) plus the position and the
    history, into a temporary directory renamed `checkpoint-<step>/` once complete; then only
    the latest `keep_checkpoints` are kept."""
    accelerator = engine.accelerator
    target = rundir.checkpoint_dir(engine.run_dir, pos.global_step)
    tmp = rundir.temporary(target)
    if engine.main:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if engine.main:
        state = {"position": asdict(pos), "history": history.to_dict()}
        rundir.write_json(tmp / rundir.TRAINER_STATE_JSON, state)
        rundir.replace_dir(tmp, target)
        for old in rundir.checkpoints(engine.run_dir)[: -engine.cfg.keep_checkpoints]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _load_checkpoint(engine: _Engine, checkpoint: Path) -> tuple[History, Position]:
    state = json.loads((checkpoint / rundir.TRAINER_STATE_JSON).read_text(encoding="utf-8"))
    engine.accelerator.load_state(str(checkpoint))  # weights, optimizer, schedule, RNG states
    pos = Position(**state["position"])
    engine.sampler_rng.set_state(_decode(pos.sampler_state))
    if engine.main:
        rundir.recover_dir(engine.run_dir / rundir.BEST_MODEL)
    _say(f"Resuming from {checkpoint.name}: epoch {pos.epoch}, {pos.batches} batch(es) in.")
    return History.from_dict(state["history"]), pos


def _encode(state: Any) -> str:
    return base64.b64encode(bytes(state.tolist())).decode("ascii")


def _decode(text: str) -> Any:
    import torch

    return torch.tensor(list(base64.b64decode(text)), dtype=torch.uint8)


def _tensor(values: list[float], device: Any) -> Any:
    import torch

    return torch.tensor(values, dtype=torch.float32, device=device)


def _cpu_processes() -> bool:
    """Several processes launched (torchrun, `accelerate launch --multi_gpu`) on a machine
    without CUDA. Accelerate must then be told to use the CPU (gloo); otherwise each process
    would silently train alone on all the data."""
    import torch

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


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


def _compile(model: Any) -> Any:
    """torch.compile with the batch and sequence sizes symbolic: one graph serves every
    length bucket and the short last batch, where static shapes compiled one graph each."""
    import torch

    # A fallback: should a graph specialise anyway, more recompiles than the default 8.
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), 64))
    return torch.compile(model, dynamic=True)


def _test(cfg: TrainConfig, data: LoadedData, run_dir: Path, history: History) -> dict:
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
    metrics["best_epoch"] = history.best_epoch
    rundir.write_json(run_dir / rundir.TEST_METRICS_JSON, metrics)
    _say(f"\nTest set, best epoch {history.best_epoch}:\n{format_report(metrics)}")
    _say("\nSample predictions:\n" + format_samples(metrics["samples"]))
    if cfg.visuals:
        from newsclf.visuals import write_visuals

        for path in write_visuals(run_dir, data, inference, cfg, history.to_dict(), metrics):
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
    """Drop the checkpoints (they only serve to resume), then move the run into place."""
    for checkpoint in rundir.checkpoints(staging):
        shutil.rmtree(checkpoint)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    staging.rename(final_dir)


def _describe(cfg: TrainConfig, data: LoadedData, model: Any) -> str:
    from accelerate import PartialState

    from newsclf.model import count_parameters

    sizes = ", ".join(f"{s} {len(ds):,}" for s, ds in data.splits.items())
    notes = "".join(f"Note: {note}\n" for note in data.notes)
    processes = PartialState().num_processes
    batch = f"batch {cfg.batch_size}"
    if processes > 1 or cfg.grad_accum > 1:
        effective = cfg.batch_size * cfg.grad_accum * processes
        batch += f" x {cfg.grad_accum} accumulated x {processes} processes = {effective}"
    weights = ", balanced class weights" if cfg.class_weights else ""
    return (
        f"{notes}Data: {data.source} ({sizes}); classes: {', '.join(data.label_names)}\n"
        f"Model: {cfg.model} ({count_parameters(model) / 1e6:.1f}M parameters); "
        f"{cfg.epochs} epoch(s), {batch}, lr {cfg.learning_rate}, precision {cfg.precision}"
        f"{weights}"
    )


def _epoch_line(row: EpochRow, improved: bool) -> str:
    return (
        f"epoch {row.epoch}: train loss {row.train_loss:.4f}  val loss {row.val_loss:.4f}  "
        f"val acc {row.val_accuracy:.2%}  val F1 {row.val_f1:.4f}  {row.seconds:.0f}s"
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
    """Print on the main process only: under `accelerate launch` the others stay silent."""
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(text, flush=True)
