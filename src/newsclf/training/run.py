"""A training run, from config to a finished run directory: `train`, `resume`, and `distill`
(a student of a finished run).

config -> data -> model -> `fit` (epochs, validation, the best checkpoint; or `fit_soup`, several
fits averaged) -> calibration on validation, folded into the best model -> the test split
-> the run published under runs/<name>/. Everything that can be checked is checked before any
slow work, and a run that fails leaves nothing half-written (`newsclf.training.staging`).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.config import AUTO
from newsclf.errors import ConfigError, ModelError, NewsclfError, OutputError
from newsclf.quiet import quiet_libraries, show_progress
from newsclf.training.calibrate import calibrate_best_model
from newsclf.training.checkpoint import tracked_runs
from newsclf.training.console import describe, say
from newsclf.training.evaluate_best import evaluate_best_model
from newsclf.training.loop import fit
from newsclf.training.recipe import resolve_recipe, small_data_warning
from newsclf.training.soup import fit_soup
from newsclf.training.staging import (
    check_no_interrupted_run,
    check_run_dir,
    checkpoints,
    final_name,
    interrupted,
    keep_or_remove,
    publish,
    with_run_name,
)
from newsclf.training.tracking import Tracking, check_tracking

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
    best_score: float | None = None  # the best epoch's validation --metric (accuracy, micro-F1)


@dataclass
class Prepared:
    """What a run trains: the data, and the model with its tokenizer."""

    data: LoadedData
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    train_set: datasets.Dataset  # the training split, tokenized


@dataclass
class Hooks:
    """What a caller of `train` may add (the search does): a call after each evaluation (its
    number from 1, the history so far: `history.finished` when it is the last), which stops
    training by returning True, and whether the test split is scored at the end."""

    on_epoch: Callable[[int, History], bool] | None = None
    score_test: bool = True


def train(cfg: TrainConfig, hooks: Hooks | None = None) -> RunResult:
    """Fine-tune `cfg.model` on `cfg.data`; write the run directory; return its headline numbers.

    `hooks` (for `newsclf tune`): see `Hooks`. Without the test, the run has no
    test_metrics.json, pictures or report until `newsclf evaluate` and `newsclf report`."""
    cfg = with_run_name(cfg.validate())
    # Everything that can be checked is checked before any slow work, and nothing is written.
    check_tracking(cfg)
    check_run_dir(cfg.run_dir, cfg.overwrite)
    staging = check_no_interrupted_run(cfg.run_dir, cfg.overwrite)
    return _run(cfg, staging, None, hooks or Hooks())


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
    check_tracking(cfg)
    check_run_dir(cfg.run_dir, cfg.overwrite)
    return _run(cfg, staging, checkpoints(staging)[-1], Hooks())


def distill(run: str | Path, **settings: Any) -> RunResult:
    """Distil the run `run` (its best model, on its data) into a student run.

    `settings` are TrainConfig fields on top of the teacher's saved config.yaml: typically
    `student_layers` (default: half the teacher's), `name` (default: '<run>-<N>-layers',
    numbered when taken),
    `output_dir`, `unlabeled_data`, `distill_alpha`, `distill_temperature`, `epochs`."""
    from transformers import AutoConfig

    from newsclf.config import TrainConfig
    from newsclf.distillation import default_student_layers
    from newsclf.model_dir import find_model_dir

    run_dir = Path(run)
    teacher = find_model_dir(run_dir)
    if teacher == run_dir or not (run_dir / rundir.CONFIG_YAML).is_file():
        raise ConfigError(
            f"{run_dir}: expected a run directory of `newsclf train` (its config.yaml says "
            "which data the teacher learned; found none). For a bare model directory, use "
            f"`newsclf train --distill-from {run_dir} --data FILE` instead."
        )
    layers = settings.get("student_layers") or default_student_layers(
        AutoConfig.from_pretrained(teacher).num_hidden_layers
    )
    values = {
        "name": None,
        "output_dir": str(run_dir.parent),
        "overwrite": False,
        "student_layers": layers,
        **settings,
        "model": str(teacher),
        "distill_from": str(teacher),
    }
    cfg = TrainConfig.from_yaml(run_dir / rundir.CONFIG_YAML, **values)
    return train(with_run_name(cfg, base=f"{run_dir.name}-{layers}-layers"))


def _run(cfg: TrainConfig, staging: Path, checkpoint: Path | None, hooks: Hooks) -> RunResult:
    with _library_output(cfg):
        state, prepared, cfg = _prepare(cfg)
        final_dir = cfg.run_dir
        try:
            history, test_metrics = _train_and_test(
                cfg, state, prepared, (staging, checkpoint), hooks
            )
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
    epochs, best = history.to_dict()["epochs"], history.best
    return RunResult(
        final_dir, best.epoch, best.val_accuracy, test_metrics, epochs, best.score(history.metric)
    )


def _library_output(cfg: TrainConfig) -> AbstractContextManager:
    """Loading and tokenizing bars from datasets and transformers are noise in logs and CI."""
    if show_progress(cfg.quiet):
        return nullcontext()
    return quiet_libraries("datasets", "transformers")


def _prepare(cfg: TrainConfig) -> tuple[PartialState, Prepared, TrainConfig]:
    """Join the process group, seed, then load the data, the tokenizer and the model; resolve
    the recipe's `auto` values from the data (the config returned holds the numbers)."""
    from accelerate import PartialState
    from accelerate.utils import set_seed

    from newsclf.data import load_data, tokenize
    from newsclf.distributed import cpu_processes
    from newsclf.precision import TrainingPrecision, check_training_precision
    from newsclf.reading import Reading
    from newsclf.task import resolve_metric
    from newsclf.training.model import (
        build_model,
        check_max_length,
        load_tokenizer,
        resolve_model,
        start_at_tag_priors,
    )
    from newsclf.training.student import add_teacher_targets, prepare_student

    model_path = resolve_model(cfg.model)  # a missing model is refused before any data is read
    if cfg.max_length != AUTO:
        check_max_length(model_path, cfg.max_length)
    state = PartialState(cpu=cpu_processes())  # under `accelerate launch`: joins the group
    check_training_precision(cfg.precision, state.device)  # before loading any data
    set_seed(cfg.seed)
    with state.main_process_first():  # the others then read what the main process cached
        data = load_data(cfg)
        resolve_metric(cfg.metric, data.task)  # a metric of the other task: refused now
        if cfg.distill_from is not None:  # the student: the teacher's model, fewer layers
            cfg, model = prepare_student(cfg, data)
        else:
            model = build_model(cfg.model, data.label_names, data.multi_label)
        tokenizer = load_tokenizer(cfg.model)
        positions = getattr(model.config, "max_position_embeddings", None)
        cfg, note = resolve_recipe(cfg, data, tokenizer, positions, state.num_processes)
        data.notes.extend(n for n in (note, small_data_warning(data)) if n)
        if data.multi_label and cfg.distill_from is None:
            start_at_tag_priors(model, data.label_matrix("train"))
        train_set = tokenize(data.splits["train"], tokenizer, Reading.of_config(cfg))
        if cfg.distill_from is not None:
            precision = TrainingPrecision.for_training(cfg.precision, state.device)
            train_set = add_teacher_targets(cfg, train_set, tokenizer, data, precision)
    return state, Prepared(data, tokenizer, model, train_set), cfg


def _train_and_test(
    cfg: TrainConfig,
    state: PartialState,
    prepared: Prepared,
    where: tuple[Path, Path | None],
    hooks: Hooks,
) -> tuple[History, dict[str, Any]]:
    """Fill the staging directory: config, data summary, the epochs, the test; then publish.
    `where`: the staging directory, and the checkpoint to resume from (None: a new run)."""
    (staging, checkpoint), data, test_metrics = where, prepared.data, {}
    if state.is_main_process and checkpoint is None:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        cfg.save_yaml(staging / rundir.CONFIG_YAML)
        rundir.write_json(staging / rundir.DATA_JSON, data.summary())
    state.wait_for_everyone()
    say(describe(cfg, data, prepared.model))
    # A resumed run logs on into the tracked runs its checkpoint names.
    tracking = Tracking(cfg, staging, tracked_runs(checkpoint) if checkpoint else None)
    try:
        if cfg.soup > 1:  # members resume from their own checkpoints
            history = fit_soup(
                cfg, prepared.model, prepared.tokenizer, prepared.train_set, data, staging
            )
        else:
            history = fit(
                cfg, prepared.model, prepared.tokenizer, prepared.train_set, data, staging,
                on_epoch=hooks.on_epoch, resume_from=checkpoint, tracking=tracking,
            )  # fmt: skip
    except BaseException:
        tracking.abort()
        raise
    if state.is_main_process:
        calibrate_best_model(cfg, data, staging / rundir.BEST_MODEL, history.metric)
        test_metrics = evaluate_best_model(cfg, data, staging, history, hooks.score_test)
        # Before the run moves: the TensorBoard writer writes into the staging directory.
        tracking.finish(staging, test_metrics, sum(row.steps for row in history.epochs))
        publish(staging, cfg.run_dir)
    state.wait_for_everyone()
    return history, test_metrics


def calibrate_run(run: str | Path, visuals: bool = True) -> RunResult:
    """Calibrate a finished run's best model (trained with `--calibration none`, or before
    calibration existed) on its validation split, rebuilt from its saved config.yaml, then
    score the test split again: test_metrics.json then holds the scores before and after, and
    the model card and (with `visuals`) the pictures and report are written again."""
    from newsclf.config import TrainConfig
    from newsclf.data import load_data
    from newsclf.model_dir import model_config
    from newsclf.task import CALIBRATION_KEY, resolve_metric
    from newsclf.training.calibrate import describe as calibration_text
    from newsclf.training.history import History

    run_dir = Path(run)
    history = History.from_dict(rundir.read_history(run_dir))
    cfg = TrainConfig.from_yaml(
        rundir.require(run_dir, rundir.CONFIG_YAML),
        output_dir=str(run_dir.parent), name=run_dir.name, visuals=visuals, calibration="auto",
    )  # fmt: skip
    already = model_config(run_dir / rundir.BEST_MODEL).get(CALIBRATION_KEY)
    if already:
        raise ModelError(
            f"{run_dir} is already calibrated ({calibration_text(already)}): a second fit "
            "would stack on the first. Nothing was changed."
        )
    data = load_data(cfg)
    metric = resolve_metric(cfg.metric, data.task)
    calibrate_best_model(cfg, data, run_dir / rundir.BEST_MODEL, metric)
    _record_calibration(run_dir / rundir.CONFIG_YAML)
    metrics = evaluate_best_model(cfg, data, run_dir, history)
    best = history.best
    return RunResult(
        run_dir, best.epoch, best.val_accuracy, metrics, history.to_dict()["epochs"],
        best.score(metric),
    )  # fmt: skip


def _record_calibration(config_yaml: Path) -> None:
    """config.yaml says calibration 'auto' once the model is calibrated, so that training
    again from it repeats what the run now holds."""
    import yaml

    values = yaml.safe_load(config_yaml.read_text(encoding="utf-8"))
    values["calibration"] = "auto"
    tmp = rundir.temporary(config_yaml)
    tmp.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    tmp.replace(config_yaml)
