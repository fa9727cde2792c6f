"""`newsclf train`, `newsclf tune` and `newsclf calibrate`: the flags, and the calls into the
library."""

from __future__ import annotations

import argparse
from pathlib import Path

from newsclf.cli.common import COMMON, add_config_flags, config_from_args
from newsclf.errors import NewsclfError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _train_parser(sub)
    _tune_parser(sub)
    _calibrate_parser(sub)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune, keep the best evaluation, score it on test, write runs/<name>/",
        usage="newsclf train [OPTIONS]",
        description="Fine-tune a model. With no option it trains the packaged all-MiniLM-L6-v2 "
        "encoder on the bundled AG News rows. Options override --config's values; the run's "
        "resolved config is saved in runs/<name>/config.yaml.",
        argument_default=argparse.SUPPRESS,
        examples=(
            "newsclf train --data mine.csv --text-column text --label-column label",
            "newsclf train --data tags.csv --task multi-label --name tags",
            "newsclf train --data train.csv --test-data test.csv --epochs 3 --name mine",
            "newsclf train --config runs/mine/config.yaml --name mine-again",
            "newsclf train --resume runs/mine",
        ),
    )
    common = p.add_argument_group(COMMON)
    add_config_flags(p, common=common)
    common.add_argument("--config", type=Path, help="YAML file of config values (options win)")
    common.add_argument(
        "--resume",
        nargs="?",
        const=True,
        metavar="RUN",
        help="continue the interrupted run RUN (runs/NAME) from its last checkpoint, with its "
        "saved config; without RUN, the run of --name (only --quiet may be added)",
    )
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from newsclf.training import resume, train

    if getattr(args, "resume", None):
        resume(_run_to_resume(args), quiet=getattr(args, "quiet", None))
        return 0
    train(config_from_args(args))
    return 0


def _run_to_resume(args: argparse.Namespace) -> Path:
    """The run `train --resume [RUN]` continues: RUN, else <output-dir>/<name>; refused with
    other options (the run keeps its saved config)."""
    given = args.resume
    named = given is True
    allowed = {"func", "command", "resume", "quiet", *(("name", "output_dir") if named else ())}
    extra = sorted(set(vars(args)) - allowed)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise NewsclfError(
            f"--resume continues the run with its saved config.yaml; got {flags} too. "
            "Drop them (only --quiet may be added)."
        )
    if not named:
        return Path(given)
    if not hasattr(args, "name"):
        raise NewsclfError(
            "--resume without a run: which one? Pass it, e.g. --resume runs/NAME (or --name NAME)."
        )
    return Path(getattr(args, "output_dir", "runs")) / args.name


def _tune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna (validation only), keep the best run",
        usage="newsclf tune [--trials N] [SEARCH OPTIONS] [any newsclf train option]",
        description="Search learning rate, batch size, epochs, warmup and weight decay (and, for "
        "multi-label data, the threshold mode) around a base config, maximising the validation "
        "metric, with median pruning. Takes every `newsclf train` option (see `newsclf train "
        "--help`) for the base config. Writes runs/<name>/ (default name: the data's, plus "
        "-search): study.db, trials/, best.yaml, trials.csv, study.html; the best trial is then "
        "scored on test once.",
        argument_default=argparse.SUPPRESS,
        examples=(
            "newsclf tune --data mine.csv --trials 8 --name search",
            "newsclf tune --resume runs/search --data mine.csv --trials 4",
            "newsclf train --config runs/search/best.yaml",
        ),
    )
    g = p.add_argument_group("search options")
    g.add_argument("--trials", type=int, help="trials this process runs (default: 10)")
    g.add_argument(
        "--timeout", type=float, help="stop starting trials after this many seconds (default: none)"
    )
    g.add_argument("--config", type=Path, help="YAML file of the base config (options win)")
    g.add_argument(
        "--space",
        type=Path,
        help="YAML search space (default: the one in docs/experiments.md#search)",
    )
    g.add_argument(
        "--resume",
        nargs="?",
        const=True,
        metavar="RUN",
        help="continue the search RUN (runs/NAME, its study.db) with more trials; without RUN, "
        "the search of --name. Give the same data options as the first time",
    )
    g.add_argument(
        "--storage",
        help="Optuna storage URL shared by several tune processes (default: "
        "sqlite:///runs/<name>/study.db)",
    )
    add_config_flags(p, hidden=True)
    p.set_defaults(func=_cmd_tune)


def _cmd_tune(args: argparse.Namespace) -> int:
    from newsclf.config import require_positive
    from newsclf.search import read_space, tune
    from newsclf.search.results import describe

    trials = getattr(args, "trials", 10)
    require_positive(trials, "--trials")
    space = read_space(args.space) if getattr(args, "space", None) else None
    resume = _search_to_resume(args)
    result = tune(
        config_from_args(args), trials, getattr(args, "timeout", None), space, resume,
        getattr(args, "storage", None),
    )  # fmt: skip
    print(describe(result))
    for path in result.files:
        print(f"wrote {path}")
    return 0


def _search_to_resume(args: argparse.Namespace) -> bool:
    """`tune --resume RUN`: the search in RUN, as --output-dir and --name (which must agree
    with it when given too). True when the search is to be continued."""
    from newsclf.search.study import STUDY_DB

    given = getattr(args, "resume", False)
    if given in (False, True):
        return given
    run = Path(given)
    if not (run / STUDY_DB).is_file() and not hasattr(args, "storage"):
        raise NewsclfError(
            f"--resume {given}: no search there (looked for {run / STUDY_DB}). Pass the "
            "directory a `newsclf tune` wrote, e.g. --resume runs/NAME."
        )
    for key, value in (("name", run.name), ("output_dir", str(run.parent))):
        if getattr(args, key, value) != value:
            flag = "--" + key.replace("_", "-")
            raise NewsclfError(
                f"--resume {given} with {flag} {getattr(args, key)}: they name two searches. "
                f"Drop {flag}."
            )
        setattr(args, key, value)
    return True


def _calibrate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="calibrate a finished run's model on its validation split (runs trained with "
        "--calibration none, or before calibration existed)",
        description="Fit a temperature (multi-label: a scale and offset per tag) on the run's "
        "validation split, rebuilt from its config.yaml; fold it into best_model/; score the "
        "test split again (test_metrics.json: ECE and log loss before and after) and rewrite "
        "the model card and report. docs/trust.md.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help="a finished run directory (runs/NAME)")
    p.add_argument(
        "--no-visuals", action="store_true", help="do not redraw the pictures and the report"
    )
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from newsclf.cli.common import loading_quietly
    from newsclf.training import calibrate_run

    with loading_quietly(args.run):
        result = calibrate_run(args.run, visuals=not args.no_visuals)
    print(f"calibrated {result.run_dir / 'best_model'}")
    return 0
