"""`newsclf train`, `newsclf tune` and `newsclf calibrate`: the flags, and the calls into the
library."""

from __future__ import annotations

import argparse
from pathlib import Path

from newsclf.cli.common import add_config_flags, config_from_args
from newsclf.errors import NewsclfError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _train_parser(sub)
    _tune_parser(sub)
    _calibrate_parser(sub)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune, keep the best epoch, evaluate on test, write runs/<name>/",
        description="Fine-tune a model. Flags override values from --config; defaults train the "
        "packaged all-MiniLM-L6-v2 encoder on the bundled AG News rows.",
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="YAML file of config values (flags win)")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the interrupted run runs/NAME from its last checkpoint, with its saved "
        "config (only --quiet may be added)",
    )
    add_config_flags(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from newsclf.training import resume, train

    if getattr(args, "resume", None):
        given = {k for k in vars(args) if k not in ("func", "command", "resume")}
        extra = sorted(given - {"quiet"})
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise NewsclfError(
                f"--resume continues the run with its saved config.yaml; got {flags} too. "
                "Drop them (only --quiet may be added)."
            )
        resume(args.resume, quiet=getattr(args, "quiet", None))
        return 0
    train(config_from_args(args))
    return 0


def _tune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna (validation only), keep the best run",
        description="Search learning rate, batch size, epochs, warmup and weight decay (and, for "
        "multi-label data, the threshold mode) around a base config, maximising the validation "
        "metric, with median pruning. Writes runs/<name>/: study.db, trials/, best.yaml, "
        "trials.csv, study.html; the best trial is then scored on test once.",
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--trials", type=int, help="trials this process runs (default: 10)")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--config", type=Path, help="YAML file of the base config (flags win)")
    p.add_argument(
        "--space", type=Path, help="YAML search space (default: see docs/experiments.md)"
    )
    p.add_argument("--resume", action="store_true", help="continue the study of the same --name")
    p.add_argument(
        "--storage",
        help="Optuna storage URL shared by several tune processes (default: "
        "sqlite:///runs/<name>/study.db)",
    )
    add_config_flags(p)
    p.set_defaults(func=_cmd_tune)


def _cmd_tune(args: argparse.Namespace) -> int:
    from newsclf.config import require_positive
    from newsclf.search import read_space, tune
    from newsclf.search.results import describe

    trials = getattr(args, "trials", 10)
    require_positive(trials, "--trials")
    space = read_space(args.space) if getattr(args, "space", None) else None
    result = tune(
        config_from_args(args), trials, getattr(args, "timeout", None), space,
        getattr(args, "resume", False), getattr(args, "storage", None),
    )  # fmt: skip
    print(describe(result))
    for path in result.files:
        print(f"wrote {path}")
    return 0


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
    p.add_argument("run", type=Path, metavar="RUN")
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
