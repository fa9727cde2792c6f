"""A model soup (Wortsman et al. 2022, the "uniform soup"): `--soup N` fine-tunes N members
from the same starting weights (the same new head) on the same rows, each with its own seed
(batch order and dropout), averages their best weights into one model, and validates and
saves that model as best_model/. It is a plain checkpoint; training takes N times as long.

Member m (1 to N) is one `fit` in members/<m>/ of the run, with its own checkpoints, best_model/ and
history.json, and member.json once it is finished. So an interrupted soup resumes inside the
member it stopped in, and finished members are not trained again. Once the soup is saved the
members' weights are removed; their history.json and member.json stay in the run. Until the
run is complete each member keeps its last checkpoint (for MiniLM about 270 MB each).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf import rundir
from newsclf.distributed import is_main_process
from newsclf.quiet import quiet_libraries
from newsclf.training.console import say
from newsclf.training.engine import Engine, setup
from newsclf.training.history import History
from newsclf.training.loop import fit, save_best_model, validate, validation_scores
from newsclf.training.staging import checkpoints

if TYPE_CHECKING:
    import datasets
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData

# Member m trains with seed + SEED_STRIDE x (m - 1): member 1 with the run's seed, and no
# member's seed is another run's neighbouring --seed.
SEED_STRIDE = 1000


def member_seeds(cfg: TrainConfig) -> list[int]:
    return [(cfg.seed + SEED_STRIDE * m) % 2**32 for m in range(cfg.soup)]


def fit_soup(
    cfg: TrainConfig,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_set: datasets.Dataset,
    data: LoadedData,
    run_dir: Path,
) -> History:
    """Train the members (the finished ones are skipped), then validate and save their soup
    as run_dir/best_model. Returns the soup's history (every member's epochs, the soup's scores)."""
    from accelerate.utils import set_seed

    saved_soup = run_dir / rundir.HISTORY_JSON  # written once the soup is saved, not before
    if saved_soup.is_file():  # interrupted after that: the members' weights may be gone
        return History.from_dict(rundir.read_history(run_dir))
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    members = []
    for m, seed in enumerate(member_seeds(cfg), start=1):
        member_dir = run_dir / rundir.SOUP_MEMBERS / str(m)
        if not (member_dir / rundir.MEMBER_JSON).is_file():
            say(f"\nSoup member {m} of {cfg.soup} (seed {seed}):")
            model.load_state_dict(start)
            set_seed(seed)  # the member's dropout; its batch order follows its config's seed
            saved = checkpoints(member_dir, members=False)
            member_cfg = dataclasses.replace(cfg, seed=seed, soup=1)
            fit(
                member_cfg, model, tokenizer, train_set, data, member_dir,
                resume_from=saved[-1] if saved else None,
            )  # fmt: skip
            if is_main_process():
                rundir.write_json(member_dir / rundir.MEMBER_JSON, {"seed": seed, "member": m})
        members.append(History.from_dict(rundir.read_history(member_dir)))
    model.load_state_dict(average_weights(run_dir / rundir.SOUP_MEMBERS, cfg.soup))
    # Prepared as a member's fit is, so the soup is validated as the members were.
    engine = setup(dataclasses.replace(cfg, soup=1), model, tokenizer, train_set, data, run_dir)
    return _validate_and_save(engine, member_seeds(cfg), members, data.task)


def average_weights(members_dir: Path, n: int) -> dict[str, torch.Tensor]:
    """The mean of the members' best weights (fp32); whole-number buffers from member 1."""
    from transformers import AutoModelForSequenceClassification

    total: dict[str, torch.Tensor] = {}
    for m in range(1, n + 1):
        with quiet_libraries("transformers"):  # a loading bar per member is noise
            best = AutoModelForSequenceClassification.from_pretrained(
                members_dir / str(m) / rundir.BEST_MODEL, dtype="float32"
            )
        for key, value in best.state_dict().items():
            if not value.is_floating_point():
                total.setdefault(key, value.clone())
            elif key in total:
                total[key] += value
            else:
                total[key] = value.clone()
    return {k: v / n if v.is_floating_point() else v for k, v in total.items()}


def _validate_and_save(
    engine: Engine, seeds: list[int], members: list[History], task: str
) -> History:
    """Score the soup (the weights in `engine`'s model) on validation, save it as best_model/,
    write the run's history.json, and remove the members' weights."""
    val_loss, metrics = validate(engine)
    save_best_model(engine, metrics.get("thresholds"))
    scores = validation_scores(engine, val_loss, metrics)
    if scores["val_metrics"] is None:
        del scores["val_metrics"]
    soup = {"seeds": seeds, "best_epochs": [h.best_epoch for h in members], **scores}
    history = History(
        epochs=[
            dataclasses.replace(row, member=m)
            for m, h in enumerate(members, start=1)
            for row in h.epochs
        ],
        num_processes=engine.accelerator.num_processes,
        task=task,
        metric=engine.metric,
        soup=soup,
    )
    say(  # the soup's scores as history.json keeps them, like each epoch's line
        f"\nSoup of {len(seeds)} members: val loss {scores['val_loss']:.4f}  val acc "
        f"{scores['val_accuracy']:.2%}  val F1 {scores['val_f1']:.4f} (members' best: "
        + ", ".join(f"{h.best.val_accuracy:.2%}" for h in members)
        + ")"
    )
    if engine.main:
        rundir.write_json(engine.run_dir / rundir.HISTORY_JSON, history.to_dict())
        for m in range(1, len(seeds) + 1):
            shutil.rmtree(engine.run_dir / rundir.SOUP_MEMBERS / str(m) / rundir.BEST_MODEL)
    engine.accelerator.wait_for_everyone()
    return history
