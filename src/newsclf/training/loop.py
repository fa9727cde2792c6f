"""The epoch loop: train on every batch, validate (at each epoch's end and at its --eval-every
points), keep the best model, stop early, checkpoint.

Everything is prepared first (`engine.setup`); the loop below then reads top to bottom. Under
`accelerate launch`, every process trains on its shard of each epoch and validation gathers
every process's rows; only the main process writes files and prints.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.data.tokenize import DOC_COLUMN
from newsclf.errors import TrainingError
from newsclf.evaluation.metrics import compute_metrics
from newsclf.evaluation.thresholds import tune_thresholds
from newsclf.quiet import show_progress
from newsclf.reading import READING_KEY, pool, pool_starts
from newsclf.task import THRESHOLD_MODE_KEY, THRESHOLDS_KEY
from newsclf.training.averaging import averaged
from newsclf.training.checkpoint import Position, encode_rng, load_checkpoint, save_checkpoint
from newsclf.training.console import epoch_line, say
from newsclf.training.engine import Engine, setup
from newsclf.training.guardrails import LOSS_CHECK_EVERY, LossWatch, early_stop, out_of_memory
from newsclf.training.history import EpochRow, History
from newsclf.training.optim import batch_loss
from newsclf.training.tracking import Tracking

if TYPE_CHECKING:
    import datasets
    import torch
    from torch.utils.data import DataLoader
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData


def fit(
    cfg: TrainConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_set: datasets.Dataset,
    data: LoadedData,
    run_dir: Path,
    on_epoch: Callable[[int, History], bool] | None = None,
    resume_from: Path | None = None,
    tracking: Tracking | None = None,
) -> History:
    """Train for `cfg.epochs`, validating at each epoch's end and at its `cfg.eval_every`
    points; stop early after `cfg.patience` evaluations without a better score. Saves the best
    evaluation's model to `run_dir/best_model`, and resumable checkpoints (each epoch, or every
    `cfg.save_every` optimizer steps) to `run_dir/checkpoint-<step>`.

    `on_epoch(evaluation, history)`, if given, runs after each evaluation (at an epoch's end,
    after its checkpoint); returning True stops training. `resume_from`, a checkpoint
    directory, continues the run that wrote it. `tracking` logs to the trackers of
    `cfg.report_to` (`newsclf.training.tracking`).
    """
    import torch

    engine = setup(cfg, model, tokenizer, train_set, data, run_dir, tracking)
    history = History(num_processes=engine.accelerator.num_processes, task=data.task)
    history.metric, pos = engine.metric, Position()
    if resume_from is not None:
        history, pos = load_checkpoint(engine, Path(resume_from))
    try:
        while pos.epoch <= cfg.epochs and not pos.finished:
            # Validation runs at the --eval-every points inside the epoch (which may stop
            # training early) and always at its end.
            if train_epoch(engine, pos, history, on_epoch):
                break
            evaluate(engine, pos, history, epoch_end=True)
            pos = pos.next_epoch(engine.sampler_rng, finished=history.finished)
            if cfg.save_every is None:  # one checkpoint at each epoch's end
                save_checkpoint(engine, pos, history)
            if on_epoch is not None and on_epoch(len(history.epochs), history):
                break
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(out_of_memory(cfg)) from None
    return history


def evaluate(engine: Engine, pos: Position, history: History, epoch_end: bool) -> EpochRow:
    """Validate the model as it is now: one row of history.json for the optimizer steps since
    the last evaluation; the best model saved when it improved; early stopping decided
    (`history.finished`)."""
    train_loss = period_loss(engine, pos)
    train_seconds = pos.period_seconds
    start = time.perf_counter()
    with averaged(engine.average):  # EMA/SWA: the average is what is validated and saved
        val_loss, metrics = validate(engine)
        improved = metrics[engine.metric] > pos.best_score
        epoch = pos.epoch if epoch_end else engine.epochs_done(pos.epoch, pos.epoch_steps)
        if improved:
            pos.best_score = metrics[engine.metric]
            history.best_epoch = epoch
            save_best_model(engine, metrics.get("thresholds"))
    row = EpochRow(
        epoch=epoch,
        train_loss=round(train_loss, 5),
        learning_rate=engine.learning_rate,
        steps=pos.period_steps,
        train_seconds=round(train_seconds, 2),
        seconds=round(train_seconds + time.perf_counter() - start, 2),
        **validation_scores(engine, val_loss, metrics),
    )
    history.epochs.append(row)
    engine.tracking.add_epoch(row, pos.global_step)
    pos.start_period()
    if engine.main:
        rundir.write_json(engine.run_dir / rundir.HISTORY_JSON, history.to_dict())
    say(epoch_line(row, improved))
    last = epoch_end and pos.epoch >= engine.cfg.epochs
    history.finished = last or early_stop(engine.cfg, history)
    return row


def period_loss(engine: Engine, pos: Position) -> float:
    """The mean batch loss over every process since the last evaluation."""
    import torch

    accelerator = engine.accelerator
    loss_sum = torch.tensor(pos.loss_sum, dtype=torch.float32, device=accelerator.device)
    total = accelerator.reduce(loss_sum, reduction="sum").item()
    return total / (max(pos.period_batches, 1) * accelerator.num_processes)


def train_epoch(
    engine: Engine,
    pos: Position,
    history: History,
    on_epoch: Callable[[int, History], bool] | None = None,
) -> bool:
    """The optimizer steps of one epoch (from `pos.batches` on), validating at the epoch's
    --eval-every points. Returns True when training stopped at one of them (early stopping, or
    `on_epoch` asked to stop); the epoch's end is evaluated by the caller."""
    import torch
    from tqdm.auto import tqdm

    cfg, accelerator, model = engine.cfg, engine.accelerator, engine.model
    optimizer, precision = engine.optimizer, engine.precision
    if pos.batches == 0:
        pos.sampler_state = encode_rng(engine.sampler_rng.get_state())
    model.train()
    # Summed on the device: reading the loss every step would stall the GPU on each batch.
    loss_sum = torch.tensor(pos.loss_sum, dtype=torch.float32, device=accelerator.device)
    watch = LossWatch(cfg, engine.run_dir)
    bar = tqdm(
        total=len(engine.loader), initial=pos.batches, desc=f"epoch {pos.epoch}/{cfg.epochs}",
        disable=not show_progress(cfg.quiet) or not engine.main, leave=False,
    )  # fmt: skip
    start = time.perf_counter() - pos.period_seconds
    for batch in epoch_batches(engine.loader, pos.batches):
        learning_rate = engine.learning_rate
        # `accumulate` skips the gradient sync (and, inside Accelerate's optimizer, the step)
        # until grad_accum batches have been summed.
        with accelerator.accumulate(model):
            loss = batch_loss(model, batch, engine.class_weights, precision, engine.objective)
            accelerator.backward(precision.scale(loss))  # fp16: scaled, so small grads survive
            if accelerator.sync_gradients and cfg.max_grad_norm:
                precision.unscale(optimizer)  # clip the true gradients, not the scaled ones
                accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            precision.step(optimizer, accelerator.sync_gradients)
            engine.scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        pos.batches += 1
        pos.period_batches += 1
        watch.add(loss.detach(), pos.global_step + 1, learning_rate)
        bar.update()
        if pos.batches % LOSS_CHECK_EVERY == 0:  # .item() waits for the GPU: not every step
            watch.check(pos.epoch)
            bar.set_postfix(loss=f"{loss_sum.item() / pos.period_batches:.4f}")
        if engine.tracking.enabled:
            pos.log_loss_sum += loss.detach()  # a tensor until logged: no wait per step
            pos.log_batches += 1
        if not accelerator.sync_gradients:
            continue
        if engine.average is not None:
            engine.average.update(pos.epoch)
        pos.global_step += 1
        pos.epoch_steps += 1
        pos.period_steps += 1
        if engine.tracking.enabled and pos.global_step % cfg.log_every == 0:
            log_training(engine, pos, learning_rate)
        if pos.epoch_steps in engine.eval_points:  # a validation inside the epoch
            watch.check(pos.epoch)
            hold_period(pos, loss_sum, start)
            bar.clear()
            evaluate(engine, pos, history, epoch_end=False)
            loss_sum.zero_()
            if history.finished or (
                on_epoch is not None and on_epoch(len(history.epochs), history)
            ):
                pos.finished = True
                if cfg.save_every is None:  # the stop is kept: a resumed run ends here too
                    save_checkpoint(engine, pos, history)
                bar.close()
                return True
            start = time.perf_counter()
        if cfg.save_every and pos.global_step % cfg.save_every == 0:
            watch.check(pos.epoch)  # never checkpoint a diverged model
            hold_period(pos, loss_sum, start)
            pos.log_loss_sum = float(pos.log_loss_sum)
            save_checkpoint(engine, pos, history)
    bar.close()
    watch.check(pos.epoch)
    hold_period(pos, loss_sum, start)
    return False


def hold_period(pos: Position, loss_sum: torch.Tensor, start: float) -> None:
    """Keep in `pos` the period's summed loss (read back from the device) and its seconds of
    training so far: for its evaluation's row, or a checkpoint to resume it from."""
    pos.loss_sum, pos.period_seconds = loss_sum.item(), time.perf_counter() - start


def log_training(engine: Engine, pos: Position, learning_rate: float) -> None:
    """The mean batch loss since the last log, and the learning rate, for the trackers."""
    loss = float(pos.log_loss_sum) / max(pos.log_batches, 1)
    engine.tracking.add({"train/loss": loss, "train/learning_rate": learning_rate}, pos.global_step)
    pos.log_loss_sum, pos.log_batches = 0.0, 0


def epoch_batches(loader: DataLoader, skip: int) -> Iterator[dict[str, torch.Tensor]]:
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


def validate(engine: Engine) -> tuple[float, dict[str, Any]]:
    """Validation loss and metrics, each process scoring its shard of the prepared loader;
    `gather_for_metrics` drops the rows repeated to even out the last batch. Multi-label:
    the thresholds are tuned here, on these rows, and the metrics use them."""
    import torch

    model = engine.eager_model
    model.eval()
    logits, labels, docs = [], [], []
    with torch.no_grad():
        for batch in engine.val_loader:
            batch_labels, batch_docs = batch.pop("labels"), batch.pop(DOC_COLUMN)
            out = engine.precision.forward(model, batch).logits.float()
            gathered = engine.accelerator.gather_for_metrics((out, batch_labels, batch_docs))
            for kept, part in zip((logits, labels, docs), gathered, strict=True):
                kept.append(part)
    model.train()
    all_logits, all_labels = per_text(engine, *(torch.cat(x).cpu() for x in (logits, labels, docs)))
    if engine.multi_label:
        return multilabel_validation(all_logits, all_labels, engine)
    loss = torch.nn.functional.cross_entropy(all_logits, all_labels).item()
    predicted = all_logits.argmax(dim=1).numpy()
    return loss, compute_metrics(all_labels.numpy(), predicted, engine.label_names)


def per_text(
    engine: Engine, logits: torch.Tensor, labels: torch.Tensor, docs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One row per validation text: a text read in several windows (long_texts chunks) is
    scored as every command scores it, its windows' logits pooled (`newsclf.reading.pool`)."""
    import torch

    order = torch.argsort(docs, stable=True)
    docs, labels = docs[order].numpy(), labels[order]
    pooled = pool(logits[order].numpy(), docs, engine.reading.pool)
    firsts = torch.from_numpy(pool_starts(docs))
    return torch.from_numpy(pooled), labels[firsts]


def multilabel_validation(
    logits: torch.Tensor, labels: torch.Tensor, engine: Engine
) -> tuple[float, dict[str, Any]]:
    """Mean binary cross-entropy, and the metrics at thresholds tuned on these rows."""
    import torch

    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()).item()
    probs, truth = torch.sigmoid(logits).numpy(), labels.numpy().astype("uint8")
    thresholds = tune_thresholds(probs, truth, engine.cfg.thresholds, engine.metric)
    predicted = (probs >= thresholds).astype("uint8")
    return loss, compute_metrics(truth, predicted, engine.label_names, thresholds)


def validation_scores(engine: Engine, val_loss: float, metrics: dict[str, Any]) -> dict[str, Any]:
    """What history.json keeps of a validation: the loss, accuracy (multi-label: the subset
    accuracy) and macro-F1, rounded; multi-label also every metric and the threshold(s)."""
    accuracy = metrics["subset_accuracy" if engine.multi_label else "accuracy"]
    return {
        "val_loss": round(val_loss, 5),
        "val_accuracy": round(accuracy, 5),
        "val_f1": round(metrics["macro_f1"], 5),
        "val_metrics": epoch_metrics(metrics) if engine.multi_label else None,
    }


def epoch_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """What history.json keeps of a multi-label validation: the scores and the threshold(s)."""
    names = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")
    row: dict[str, Any] = {name: round(metrics[name], 5) for name in names}
    thresholds = metrics["thresholds"]
    if len(set(thresholds.values())) == 1:
        row["threshold"] = next(iter(thresholds.values()))
    else:
        row["thresholds"] = thresholds
    return row


def save_best_model(engine: Engine, thresholds: dict[str, float] | None = None) -> None:
    """Written beside best_model/, then swapped in: a crash keeps the previous best loadable.
    A multi-label model keeps the thresholds tuned on validation in its config.json."""
    if engine.main:
        target = engine.run_dir / rundir.BEST_MODEL
        tmp = rundir.temporary(target)
        shutil.rmtree(tmp, ignore_errors=True)
        model = engine.accelerator.unwrap_model(engine.eager_model)
        # How the model reads long texts, so that every command reads them as training did.
        setattr(model.config, READING_KEY, engine.reading.to_config())
        if thresholds is not None:
            setattr(model.config, THRESHOLDS_KEY, thresholds)
            setattr(model.config, THRESHOLD_MODE_KEY, engine.cfg.thresholds)
        model.save_pretrained(tmp)
        engine.tokenizer.save_pretrained(tmp)
        rundir.replace_dir(tmp, target)
    engine.accelerator.wait_for_everyone()
