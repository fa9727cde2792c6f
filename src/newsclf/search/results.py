"""What a search leaves: the best config as YAML, the trials as CSV, an offline page of Optuna's
plots, and the best trial's run scored on the test split (once, after the search) with its
report linking back to the page. Other completed trials keep their history but not their
model (a model is ~90 MB; the best one is the one to keep)."""

from __future__ import annotations

import logging
import shutil
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.quiet import quiet_libraries

if TYPE_CHECKING:
    import optuna

    from newsclf.config import TrainConfig
    from newsclf.search.space import Space

log = logging.getLogger(__name__)
BEST_YAML = "best.yaml"
TRIALS_CSV = "trials.csv"
STUDY_HTML = "study.html"


def write_results(
    study: optuna.Study, base: TrainConfig, space: Space, study_dir: Path, best_run: Path
) -> list[Path]:
    """best.yaml, trials.csv, study.html; the best run tested and reported."""
    from newsclf.config import TrainConfig

    best = {**base.to_dict(), **study.best_trial.params}
    best.update(name=f"{base.name}-best", overwrite=False)
    yaml_path = study_dir / BEST_YAML
    TrainConfig.from_dict(best).save_yaml(yaml_path)
    csv_path = study_dir / TRIALS_CSV
    columns = ("number", "value", "state", "params", "datetime_start", "duration")
    study.trials_dataframe(attrs=columns).to_csv(csv_path, index=False)
    page = study_dir / STUDY_HTML
    page.write_text(study_page(study, space), encoding="utf-8")
    _drop_other_models(study, best_run)
    with quiet_libraries("transformers", "datasets") if base.quiet else nullcontext():
        tested = _test_best(best_run, page)
    return [yaml_path, csv_path, page, *tested]


def _drop_other_models(study: optuna.Study, best_run: Path) -> None:
    for trial in study.trials:
        run = trial.user_attrs.get("run_dir")
        if run and Path(run) != best_run:
            shutil.rmtree(Path(run) / rundir.BEST_MODEL, ignore_errors=True)


def _test_best(best_run: Path, page: Path) -> list[Path]:
    """The best trial scored on the test split, with its pictures and report."""
    from newsclf.evaluation import evaluate
    from newsclf.report import embed_run, plot_run, report_run

    written = [Path(evaluate(best_run)["written_to"])]
    written += plot_run(best_run)
    written.append(embed_run(best_run))
    link = Path("..", "..", page.name).as_posix()  # from trials/trial-NNNN/ to the study page
    written.append(report_run(best_run, links={"the search that chose this run": link}))
    return written


def study_page(study: optuna.Study, space: Space) -> str:
    """One self-contained page (plotly.js inlined once): the trials' values over time, how much
    each parameter mattered, and every trial across the parameters."""
    import jinja2
    from optuna import visualization as vis

    plots, inlined = [], False
    for title, draw in (
        ("Optimisation history", vis.plot_optimization_history),
        ("Parameter importances", vis.plot_param_importances),
        ("Parallel coordinates", vis.plot_parallel_coordinate),
    ):
        try:
            with warnings.catch_warnings():  # e.g. "importances will be equal" on few trials
                warnings.simplefilter("ignore")
                figure = draw(study)
        except (ValueError, RuntimeError) as err:  # e.g. importances need 2+ complete trials
            plots.append((title, None, f"not drawn: {err}"))
            continue
        # plotly.js once, inline: the page opens offline.
        plots.append((title, figure.to_html(full_html=False, include_plotlyjs=not inlined), None))
        inlined = True
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("newsclf", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined,
    )  # fmt: skip
    best = study.best_trial
    return env.get_template("study.html.j2").render(
        name=study.study_name,
        trials=len(study.trials),
        states=_states(study),
        best={"number": best.number, "value": f"{best.value:.5f}", "params": best.params},
        space=[(k, str(v)) for k, v in space.items()],
        plots=plots,
    )


def _states(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def describe(result: Any) -> str:
    """The lines `newsclf tune` prints at the end."""
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in result.best_params.items())  # fmt: skip
    return (
        f"Best trial {result.best_trial} of {result.trials}: validation {result.best_value:.4f} "
        f"({params})\nIts run: {result.best_run}/"
    )
