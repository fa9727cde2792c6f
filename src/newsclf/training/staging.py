"""Where a run lives while it trains, and how it ends: the staging directory, its checkpoints,
and the rules for publishing a finished run or keeping an interrupted one.

A run is written to `.<name>.incomplete` next to its final place and moved there only when it is
complete. Resumable checkpoints (`checkpoint-<step>/`) are written there as training goes; a run
that dies keeps its staging directory when it holds one, and `newsclf train --resume
runs/<name>` continues it. A run that fails before its first checkpoint leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import rundir
from newsclf.distributed import is_main_process, main_process_value
from newsclf.errors import RunExistsError
from newsclf.paths import check_writable_dir

if TYPE_CHECKING:
    from newsclf.config import TrainConfig

# What a run name made from the data's name may hold; anything else becomes '_'.
NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
DATA_SUFFIXES = (".gz", ".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")


def staging_dir(final_dir: Path) -> Path:
    """Where a run lives until it is complete: `.<name>.incomplete` next to its final place.
    An interrupted run stays there (with its checkpoints) for `newsclf train --resume`."""
    final_dir = Path(final_dir)
    return final_dir.with_name(f".{final_dir.name}{rundir.STAGING_SUFFIX}")


def with_run_name(cfg: TrainConfig, suffix: str = "", base: str | None = None) -> TrainConfig:
    """`cfg` with a run name: its own, or `base` (default: the data's name) + `suffix`, numbered
    when taken (mine, mine-2, ...). A name chosen here is printed, so the user knows where the
    run goes."""
    if cfg.name is not None:
        return cfg
    base = (base or data_name(cfg.data)) + suffix
    name = main_process_value(free_run_name(Path(cfg.output_dir), base))
    if is_main_process():
        print(f"Run name: {name} (writing {Path(cfg.output_dir) / name}/; --name NAME to choose)")
    return dataclasses.replace(cfg, name=name)


def data_name(data: str) -> str:
    """A run name from --data: 'mine' for data/mine.csv.gz or a data/mine/ directory, 'ag_news'
    for ag_news or fancyzhx/ag_news."""
    name = Path(data.rstrip("/")).name
    while name.lower().endswith(DATA_SUFFIXES):
        name = name[: name.rindex(".")]
    return NAME_CHARS.sub("_", name).strip("._") or "run"


def free_run_name(output_dir: Path, base: str) -> str:
    """`base`, or base-2, base-3, ...: the first name under `output_dir` that holds no run, no
    interrupted run and no file."""
    number, name = 1, base
    while (output_dir / name).exists() or staging_dir(output_dir / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def checkpoints(run_dir: Path, members: bool = True) -> list[Path]:
    """The complete `checkpoint-<step>/` directories of a run, oldest first; with `members`,
    also those of a soup's members (members/<m>/), after the run's own, by member. Half-written
    ones never match: they are written under a hidden temporary name and renamed when complete."""
    found = []
    patterns = [rundir.CHECKPOINT_PREFIX + "*"]
    if members:
        patterns.append(f"{rundir.SOUP_MEMBERS}/*/{rundir.CHECKPOINT_PREFIX}*")
    for path in (p for pattern in patterns for p in Path(run_dir).glob(pattern)):
        step = path.name.removeprefix(rundir.CHECKPOINT_PREFIX)
        member = path.parent.name if path.parent.parent.name == rundir.SOUP_MEMBERS else "-1"
        complete = (path / rundir.TRAINER_STATE_JSON).is_file()
        if step.isdigit() and member.lstrip("-").isdigit() and complete:
            found.append((int(member), int(step), path))
    return [path for *_, path in sorted(found)]


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / f"{rundir.CHECKPOINT_PREFIX}{step}"


def check_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse a run directory that is a file or already holds a run (unless `overwrite`)."""
    check_writable_dir(run_dir.parent, "--output-dir")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunExistsError(
            f"{run_dir} is a file, not a run directory. Pick another --name or --output-dir."
        )
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise RunExistsError(
            f"{run_dir} already holds a run. Pick another --name, or pass --overwrite to replace it."
        )


def check_no_interrupted_run(run_dir: Path, overwrite: bool) -> Path:
    """The staging directory for a new run of `run_dir`; refused when it holds an interrupted
    run that could be resumed (unless `overwrite`)."""
    staging = staging_dir(run_dir)
    saved = checkpoints(staging)
    if saved and not overwrite:
        raise RunExistsError(
            f"{staging} holds an interrupted run of {run_dir} (last checkpoint: "
            f"{saved[-1].name}). Continue it with `newsclf train --resume {run_dir}`, or "
            "pass --overwrite to start over."
        )
    return staging


def interrupted(run: Path) -> Path:
    """The staging directory of the interrupted run `run` names, or an error saying why not."""
    staging = run if run.name.endswith(rundir.STAGING_SUFFIX) else staging_dir(run)
    if not staging.is_dir():
        finished = (run / rundir.TEST_METRICS_JSON).is_file()
        raise RunExistsError(
            f"{run} is a finished run: there is nothing to resume. Train a new one with "
            "another --name."
            if finished
            else f"No interrupted run to resume at {run} (looked for {staging}/). Pass the "
            "path the run was training to, e.g. runs/NAME."
        )
    if not checkpoints(staging):
        raise RunExistsError(
            f"{staging} holds no checkpoint-<step>/ to resume from: the run stopped before its "
            "first one. Train it again (--overwrite), with --save-every N for earlier ones."
        )
    return staging


def final_name(staging: Path) -> str:
    """The run name a staging directory `.<name>.incomplete` stands for."""
    return staging.name[1 : -len(rundir.STAGING_SUFFIX)]


def keep_or_remove(staging: Path, final_dir: Path) -> str:
    """A failed run keeps its staging directory when it holds a checkpoint to resume from;
    otherwise nothing of it is left. Returns what was kept, for the message."""
    if not is_main_process():
        return ""
    saved = checkpoints(staging)
    if not saved:
        shutil.rmtree(staging, ignore_errors=True)
        return ""
    return (
        f"The run so far is kept in {staging}/ (last checkpoint: {saved[-1].name}); continue "
        f"it with `newsclf train --resume {final_dir}`."
    )


def publish(staging: Path, final_dir: Path) -> None:
    """Drop the checkpoints (they only serve to resume), then move the run into place."""
    for checkpoint in checkpoints(staging):
        shutil.rmtree(checkpoint)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    staging.rename(final_dir)
