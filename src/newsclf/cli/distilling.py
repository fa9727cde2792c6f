"""`newsclf distill`: a smaller, faster student from a finished run (docs/performance.md,
Distillation). The flags, and the call into `newsclf.training.run.distill`."""

from __future__ import annotations

import argparse
from pathlib import Path

from newsclf.cli.common import add_config_flags

# TrainConfig fields `distill` takes as flags; the rest come from the teacher's config.yaml.
DISTILL_FIELDS = (
    "name", "output_dir", "overwrite", "unlabeled_data", "distill_alpha", "distill_temperature",
    "epochs", "learning_rate", "batch_size", "precision", "seed", "visuals", "quiet",
)  # fmt: skip


# What a distillation's defaults are where they are not TrainConfig's.
TEACHER = "Default: the teacher's (its config.yaml)."
DEFAULTS = {
    "name": "Default: <RUN's name>-<N>-layers, numbered when taken.",
    "output_dir": "Default: the directory holding RUN.",
    "epochs": TEACHER, "learning_rate": TEACHER, "batch_size": TEACHER, "precision": TEACHER,
    "seed": TEACHER, "visuals": TEACHER,
}  # fmt: skip


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill",
        help="train a smaller, faster student of a finished run (fewer layers, same classes)",
        description="Distil a finished run into a student: the teacher's model with only some "
        "of its encoder layers (evenly spaced, first and last kept), trained on the teacher's "
        "logits and the labels of the run's own data, then validated, calibrated, tested and "
        "saved like any run, as runs/<name>/ (default: <run>-<N>-layers). Every other setting is "
        "the teacher's (config.yaml). Resume an interrupted one with `newsclf train --resume "
        "runs/<name>`.",
        argument_default=argparse.SUPPRESS,
        examples=(
            "newsclf distill runs/demo --layers 3",
            "newsclf distill runs/mine --layers 2 --unlabeled-data more_texts.txt --name mine-small",
            "newsclf export runs/demo-3-layers onnx-small --int8",
        ),
    )
    p.add_argument("run", type=Path, metavar="RUN", help="the teacher: a run directory")
    p.add_argument(
        "--layers",
        type=int,
        dest="student_layers",
        metavar="N",
        help="encoder layers the student keeps (default: half the teacher's)",
    )
    add_config_flags(p, only=DISTILL_FIELDS)
    for action in p._actions:  # defaults that come from the teacher's run, not the config's
        if action.dest in DEFAULTS:
            action.help = _without_default(action.help) + " " + DEFAULTS[action.dest]
    p.set_defaults(func=_cmd_distill)


def _without_default(text: str) -> str:
    return text.split(" Default:")[0].split(" (default:")[0]


def _cmd_distill(args: argparse.Namespace) -> int:
    from newsclf.training import distill

    settings = {k: v for k, v in vars(args).items() if k not in ("func", "command", "run")}
    result = distill(args.run, **settings)
    print(f"student: {result.run_dir}")
    return 0
