"""`newsclf tune`: a hyperparameter search with Optuna, each trial a training run scored on
validation only, with median pruning on the per-epoch validation metric.

    runs/NAME/
      study.db             the Optuna study (SQLite): a stopped search continues with --resume
      trials/trial-0003/   each trial's run directory (no test scoring during the search)
      best.yaml            the best trial's config: `newsclf train --config best.yaml`
      trials.csv           every trial: number, state, value, parameters, times
      study.html           Optuna's plots (history, parameter importances, parallel coordinates)

Several `tune` processes share one study when they share its storage (`--storage` with an RDB
URL such as postgresql://..., or the same SQLite file on one machine): each runs its own
`--trials`, and Optuna hands every one of them the next trial. At the end, the best trial's
model is kept and scored on the test split, once.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.errors import ConfigError
from newsclf.quiet import quiet_libraries
from newsclf.search.results import write_results
from newsclf.search.space import Space, check_space, default_space, sample
from newsclf.task import resolve_metric
from newsclf.training import Hooks, train
from newsclf.training.staging import with_run_name

if TYPE_CHECKING:
    import optuna

    from newsclf.config import TrainConfig
    from newsclf.training import History

STUDY_DB = "study.db"
HEARTBEAT_SECONDS = 60
TRIALS_DIR = "trials"
SEARCH_SUFFIX = "-search"  # a search named by default: runs/<data>-search/


@dataclass
class SearchResult:
    study_dir: Path
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_run: Path
    trials: int  # all trials the study holds, from every process
    files: list[Path]


def tune(
    base: TrainConfig,
    trials: int | None = 10,
    timeout: float | None = None,
    space: Space | None = None,
    resume: bool = False,
    storage: str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> SearchResult:
    """Search `space` (default: `default_space`) around `base`, maximising the validation
    metric; write the study's files under `base.run_dir`; return the best trial."""
    import optuna

    base.validate()
    if resume and base.name is None:
        raise ConfigError(
            "resume=True continues a search by its name: pass --resume runs/NAME (or --name NAME)."
        )
    base = with_run_name(base, SEARCH_SUFFIX)
    study_dir = base.run_dir
    task = _data_task(base)
    metric = resolve_metric(base.metric, task)
    space = space or default_space(task)
    check_space(space, base)
    study = _open_study(base.name, storage or _sqlite(study_dir), resume, pruner)
    objective = _Objective(base, space, metric, study_dir / TRIALS_DIR)
    with quiet_libraries("optuna"):  # a line per trial from Optuna; the runs print their own
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=())
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise ConfigError(
            f"No trial of study {base.name!r} completed ({len(study.trials)} tried): nothing "
            "to report. Give the search more --trials or a longer --timeout."
        )
    best = study.best_trial
    files = write_results(
        study, base, space, study_dir, _run_dir(objective.trials_dir, best.number)
    )
    return SearchResult(
        study_dir, best.number, best.value, best.params,
        _run_dir(objective.trials_dir, best.number), len(study.trials), files,
    )  # fmt: skip


def _data_task(base: TrainConfig) -> str:
    """The task of the data (read once before the first trial: bad data stops the search)."""
    from newsclf.data import load_data

    with quiet_libraries("datasets"):
        return load_data(base).task


def _sqlite(study_dir: Path) -> str:
    study_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(study_dir / STUDY_DB).resolve()}"


def _open_study(
    name: str, storage: str, resume: bool, pruner: optuna.pruners.BasePruner | None
) -> optuna.Study:
    """The study in `storage`: a new one, or (with `resume`) the one already there. Trials send
    a heartbeat: one whose process died is marked failed by the next `tune` of the study."""
    import optuna

    try:
        with warnings.catch_warnings():  # the heartbeat is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(
                storage, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=3 * HEARTBEAT_SECONDS
            )
        existing = optuna.study.get_all_study_names(rdb)
    except Exception as err:  # Optuna raises the storage's own errors
        raise ConfigError(
            f"--storage {storage}: cannot be opened ({err}). Check the URL."
        ) from None
    if name in existing and not resume:
        raise ConfigError(
            f"{storage} already holds study {name!r}. Continue it with --resume, or pick "
            "another --name."
        )
    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    return optuna.create_study(
        study_name=name, storage=rdb, direction="maximize", pruner=pruner,
        load_if_exists=resume,
    )  # fmt: skip


def _run_dir(trials_dir: Path, number: int) -> Path:
    return trials_dir / f"trial-{number:04d}"


class _Objective:
    """One trial: a config drawn from the space, trained with validation only; its value is
    the best epoch's validation metric; a trial the pruner stops is recorded as pruned."""

    def __init__(self, base: TrainConfig, space: Space, metric: str, trials_dir: Path) -> None:
        self.base, self.space, self.metric, self.trials_dir = base, space, metric, trials_dir

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        from newsclf.config import TrainConfig

        values = {**self.base.to_dict(), **sample(trial, self.space)}
        run_dir = _run_dir(self.trials_dir, trial.number)
        values.update(output_dir=str(run_dir.parent), name=run_dir.name, overwrite=True)
        cfg = TrainConfig.from_dict({**values, "visuals": False})
        pruned: list[int] = []
        reporter = self._reporter(trial, pruned)
        result = train(cfg, Hooks(on_epoch=reporter, score_test=False))
        trial.set_user_attr("run_dir", str(result.run_dir))
        if pruned:
            shutil.rmtree(result.run_dir / rundir.BEST_MODEL, ignore_errors=True)
            raise optuna.TrialPruned(f"pruned after evaluation {pruned[0]}")
        return float(result.best_score)

    def _reporter(self, trial: optuna.Trial, pruned: list[int]) -> Any:
        def on_epoch(evaluation: int, history: History) -> bool:
            trial.report(history.epochs[-1].score(self.metric), evaluation)
            # After the last evaluation the training is done: pruning would only discard it.
            if not history.finished and trial.should_prune():
                pruned.append(evaluation)
                return True  # stops training; the trial is then recorded as pruned
            return False

        return on_epoch
