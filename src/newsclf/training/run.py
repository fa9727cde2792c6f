"""A training run, from config to a finished run directory: `train` and `resume`.

config -> data -> model -> `fit` (epochs, validation, the best checkpoint) -> the test split
-> the run published under runs/<name>/. Everything that can be checked is checked before any
slow work, and a run that fails leaves nothing half-written (`newsclf.training.staging`).
"""

from __future__ import annotations

import shutil
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.errors import NewsclfError, OutputError
from newsclf.quiet import quiet_libraries, show_progress
from newsclf.training.console import describe, say
from newsclf.training.evaluate_best import evaluate_best_model
from newsclf.training.loop import fit
from newsclf.training.staging import (
    check_no_interrupted_run,
    check_run_dir,
    checkpoints,
    final_name,
    interrupted,
    keep_or_remove,
    publish,
)

if TYPE_CHECKING:
    import datasets
    from accelerate import PartialState
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.training.history import History


@dataclass
class RunResult:
    run_dir: Path
    best_epoch: int
    best_val_accuracy: float
    test_metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Prepared:
    """What a run trains: the data, and the model with its tokenizer."""

    data: LoadedData
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    train_set: datasets.Dataset  # the training split, tokenized


def train(cfg: TrainConfig) -> RunResult:
    """Fine-tune `cfg.model` on `cfg.data`; write the run directory; return its headline numbers."""
    cfg.validate()
    # Everything that can be checked is checked before any slow work, and nothing is written.
    check_run_dir(cfg.run_dir, cfg.overwrite)
    staging = check_no_interrupted_run(cfg.run_dir, cfg.overwrite)
    return _run(cfg, staging, checkpoint=None)


def resume(run: str | Path, quiet: bool | None = None) -> RunResult:
    """Continue an interrupted run from its last checkpoint, with its saved config.

    `run` is the run's final path (`runs/<name>`) or its staging directory
    (`runs/.<name>.incomplete`). The finished run equals an uninterrupted one (on CPU, with
    the same seed: the same history.json apart from the `seconds` fields)."""
    from newsclf.config import TrainConfig

    staging = interrupted(Path(run))
    # The config's output_dir may be relative to where training started: use where the run is.
    cfg = TrainConfig.from_yaml(
        staging / rundir.CONFIG_YAML,
        output_dir=str(staging.parent),
        name=final_name(staging),
    )
    if quiet is not None:
        cfg.quiet = quiet
    check_run_dir(cfg.run_dir, cfg.overwrite)
    return _run(cfg, staging, checkpoint=checkpoints(staging)[-1])


def _run(cfg: TrainConfig, staging: Path, checkpoint: Path | None) -> RunResult:
    with _library_output(cfg):
        state, prepared = _prepare(cfg)
        final_dir = cfg.run_dir
        try:
            history, test_metrics = _train_and_test(cfg, state, prepared, staging, checkpoint)
        except OSError as err:
            note = keep_or_remove(staging, final_dir)
            raise OutputError(
                f"Cannot write the run to {final_dir}: {err.strerror or err} ({err.filename}). "
                f"Free some space, or pick another --output-dir. {note}".strip()
            ) from None
        except NewsclfError as err:
            note = keep_or_remove(staging, final_dir)
            raise type(err)(f"{err} {note}".strip()) from None
        except BaseException:
            note = keep_or_remove(staging, final_dir)
            if note:
                print(note, file=sys.stderr, flush=True)
            raise
    say(f"\nRun written to {final_dir}/ (best model: {final_dir / rundir.BEST_MODEL})")
    epochs = history.to_dict()["epochs"]
    return RunResult(final_dir, history.best_epoch, history.best.val_accuracy, test_metrics, epochs)


def _library_output(cfg: TrainConfig) -> AbstractContextManager:
    """Loading and tokenizing bars from datasets and transformers are noise in logs and CI."""
    if show_progress(cfg.quiet):
        return nullcontext()
    return quiet_libraries("datasets", "transformers")


def _prepare(cfg: TrainConfig) -> tuple[PartialState, Prepared]:
    """Join the process group, seed, then load the data, the tokenizer and the model."""
    from accelerate import PartialState
    from accelerate.utils import set_seed

    from newsclf.data import load_data, tokenize
    from newsclf.distributed import cpu_processes
    from newsclf.precision import check_training_precision
    from newsclf.task import resolve_metric
    from newsclf.training.model import build_model, check_max_length, load_tokenizer, resolve_model

    check_max_length(resolve_model(cfg.model), cfg.max_length)
    state = PartialState(cpu=cpu_processes())  # under `accelerate launch`: joins the group
    check_training_precision(cfg.precision, state.device)  # before loading any data
    set_seed(cfg.seed)
    with state.main_process_first():  # the others then read what the main process cached
        data = load_data(cfg)
        resolve_metric(cfg.metric, data.task)  # a metric of the other task: refused now
        tokenizer = load_tokenizer(cfg.model)
        model = build_model(cfg.model, data.label_names, data.multi_label)
        train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    return state, Prepared(data, tokenizer, model, train_set)


def _train_and_test(
    cfg: TrainConfig,
    state: PartialState,
    prepared: Prepared,
    staging: Path,
    checkpoint: Path | None,
) -> tuple[History, dict[str, Any]]:
    """Fill the staging directory: config, data summary, the epochs, the test; then publish."""
    data, test_metrics = prepared.data, {}
    if state.is_main_process and checkpoint is None:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        cfg.save_yaml(staging / rundir.CONFIG_YAML)
        rundir.write_json(staging / rundir.DATA_JSON, data.summary())
    state.wait_for_everyone()
    say(describe(cfg, data, prepared.model))
    history = fit(
        cfg, prepared.model, prepared.tokenizer, prepared.train_set, data, staging,
        resume_from=checkpoint,
    )  # fmt: skip
    if state.is_main_process:
        test_metrics = evaluate_best_model(cfg, data, staging, history)
        publish(staging, cfg.run_dir)
    state.wait_for_everyone()
    return history, test_metrics
