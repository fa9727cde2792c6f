"""The recipe `auto` chooses from the data: the training budget, how often validation runs, how
long it waits for a better score, and how many tokens of each text are read (docs/recipe.md).

A fixed recipe (2 epochs, 128 tokens) was tuned on one data set and loses to a TF-IDF baseline on
others: too few optimizer steps for a new head of many classes, texts cut short. The rules here
read the data instead; each constant below says where it comes from. `resolve_recipe` returns a
config with every `auto` replaced by a number, and that config is what the run saves, so
`newsclf train --config runs/X/config.yaml` repeats the run exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsclf.config import AUTO, EVAL_AT_EPOCH_END
from newsclf.reading import CHUNKS, TRUNCATE, Reading, TextReader, count_windows, default_stride

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData

# The budget. Fine-tuning fails on small data from too few optimizer steps, not from the small
# data itself (Mosbach et al. 2021), so the budget is counted in steps and examples, then rounded
# up to whole epochs, and validation decides where in it the model is best.
MIN_EPOCHS = 3  # large data: the usual 2-4 epochs (Devlin et al. 2019; 3 in HF and AutoTrain)
MAX_EPOCHS = 20  # small data: Mosbach et al. 2021 train small sets 20 epochs; AutoGluon's ceiling
STEP_FLOOR = 500  # optimizer steps, whatever the data's size: the few-sample studies' point
# A new head of k classes: each class is seen about this many times over the budget (k classes
# of n rows each: 1,000 x k / rows epochs). On 4 classes of 1,000+ rows that is one epoch; on
# 77 intents of ~120 rows each it is 8-9 epochs, where 2 left the head half-trained.
SEEN_PER_CLASS = 1000
# Validation: about this many evaluations over the budget (AutoGluon validates every half
# epoch), never more often than this share of an epoch, and early stopping after half of them
# without a better score. The rate decays linearly over the whole budget and the best model
# usually comes late, as it anneals: a shorter patience stops on a noisy plateau at full rate
# (measured in docs/recipe.md), so training stops only once half the budget brought nothing.
EVALUATIONS = 20
FINEST_EVAL = 0.1
PATIENCE_SHARE = 0.5
# Max length: the 95th percentile of the training texts' token counts (AutoGluon's text
# predictor), rounded up to a multiple of 32, never past the longest text, and at most 256
# tokens: past that a CPU step costs twice as much again for the few texts it helps.
LENGTH_QUANTILE = 0.95
LENGTH_MULTIPLE = 32
LENGTH_CAP = 256
LENGTH_SAMPLE = 20_000  # texts measured; more only costs tokenizing time
# Long texts: auto truncates. Trained on every window with its text's label, 20 Newsgroups
# (1,000 posts, the same optimizer steps) scored 56.2% against truncation's 64.0%
# (docs/long-texts.md), and Park et al. 2022 found plain truncation hard to beat on long
# documents; chunks and head-tail stay one flag away, and the note says how many texts are cut.
LONG_TEXTS_AUTO = TRUNCATE
# Very small data: fewer training rows than this in some class is said before training.
FEW_ROWS_PER_CLASS = 10


@dataclass(frozen=True)
class Budget:
    """What `epochs: auto` chose, and the numbers it was chosen from."""

    epochs: int
    steps_per_epoch: int
    eval_every: float  # a share of an epoch
    patience: int  # evaluations without a better score


def choose_budget(rows: int, classes: int, batch: int) -> Budget:
    """The budget for `rows` training rows of `classes` classes at an effective `batch`:
    at least STEP_FLOOR steps and SEEN_PER_CLASS examples per class, in MIN_EPOCHS to
    MAX_EPOCHS whole epochs; evaluations and patience follow from it."""
    per_epoch = max(math.ceil(rows / batch), 1)  # optimizer steps in one pass
    wanted = max(STEP_FLOOR / per_epoch, SEEN_PER_CLASS * classes / max(rows, 1))
    epochs = min(max(math.ceil(wanted - 1e-9), MIN_EPOCHS), MAX_EPOCHS)
    per_epoch_evals = min(math.ceil(EVALUATIONS / epochs), round(1 / FINEST_EVAL), per_epoch)
    evaluations = epochs * per_epoch_evals
    patience = max(math.ceil(PATIENCE_SHARE * evaluations), 2)
    return Budget(epochs, per_epoch, round(1 / per_epoch_evals, 4), patience)


def choose_max_length(lengths: Sequence[int], limit: int) -> int:
    """The max length for texts of these token counts: their 95th percentile rounded up to a
    multiple of 32, no longer than the longest text (rounded up to 8) and at most `limit`."""
    if not len(lengths):
        return min(LENGTH_MULTIPLE, limit)
    rounded = math.ceil(length_quantile(lengths) / LENGTH_MULTIPLE) * LENGTH_MULTIPLE
    longest = math.ceil(max(lengths) / 8) * 8
    return max(min(rounded, longest, limit), 8)


def length_quantile(lengths: Sequence[int]) -> int:
    """The LENGTH_QUANTILE of the token counts, one of them (numpy's "higher"); 0 for none."""
    import numpy as np

    if not len(lengths):
        return 0
    return int(np.quantile(np.asarray(lengths), LENGTH_QUANTILE, method="higher"))


def share_cut(lengths: Sequence[int], max_length: int) -> float:
    """The share of texts longer than `max_length` tokens."""
    return sum(n > max_length for n in lengths) / max(len(lengths), 1)


def token_lengths(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token counts (with the special tokens) of up to LENGTH_SAMPLE texts spread evenly."""
    step = max(len(texts) // LENGTH_SAMPLE, 1)
    sample = list(texts[::step][:LENGTH_SAMPLE])
    encoded = tokenizer(sample, add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def model_length_limit(tokenizer: PreTrainedTokenizerBase, positions: int | None) -> int:
    """The most tokens the model reads: its position embeddings, the tokenizer's limit, 512."""
    limits = [512, getattr(tokenizer, "model_max_length", 512) or 512]
    if isinstance(positions, int):
        limits.append(positions)
    return int(min(limits))


def resolve_recipe(
    cfg: TrainConfig,
    data: LoadedData,
    tokenizer: PreTrainedTokenizerBase,
    positions: int | None,
    processes: int = 1,
) -> tuple[TrainConfig, str | None]:
    """`cfg` with every `auto` of the recipe replaced by what the data says, and the
    `recipe: ...` note that says what was chosen and why (None when nothing was `auto`)."""
    parts, changes = [], {}
    lengths = token_lengths(data.splits["train"]["text"], tokenizer)
    if cfg.max_length == AUTO:
        limit = min(model_length_limit(tokenizer, positions), LENGTH_CAP)
        changes["max_length"] = choose_max_length(lengths, limit)
        parts.append(_length_words(lengths, changes["max_length"], limit))
    reading, words = choose_reading(cfg, lengths, changes.get("max_length", cfg.max_length))
    changes.update(long_texts=reading.mode, stride=reading.stride)
    if cfg.long_texts == AUTO or (reading.mode == CHUNKS and cfg.stride == AUTO):
        parts.append(words)
    # Under chunks a long text is several training rows: the budget counts the rows trained on.
    rows = expected_rows(len(data.splits["train"]), lengths, reading, tokenizer)
    if cfg.epochs == AUTO:
        batch = cfg.batch_size * cfg.grad_accum * processes
        budget = choose_budget(rows, len(data.label_names), batch)
        changes.update(epochs=budget.epochs, eval_every=budget.eval_every)
        if cfg.patience is None:
            changes["patience"] = budget.patience
        parts.insert(0, _budget_words(budget, rows, len(data.label_names), batch, changes))
    if cfg.eval_every == AUTO and "eval_every" not in changes:
        changes["eval_every"] = EVAL_AT_EPOCH_END  # explicit epochs: at each epoch's end, as ever
    resolved = dataclasses.replace(cfg, **changes).validate()
    return resolved, ("recipe: " + "; ".join(parts)) if parts else None


def choose_reading(
    cfg: TrainConfig, lengths: Sequence[int], max_length: int
) -> tuple[Reading, str]:
    """The reading the run trains with, and the words of the note that say why."""
    mode = LONG_TEXTS_AUTO if cfg.long_texts == AUTO else cfg.long_texts
    stride = (
        (default_stride(max_length) if cfg.stride == AUTO else cfg.stride) if mode == CHUNKS else 0
    )
    reading = Reading(mode, max_length, stride)
    cut = share_cut(lengths, max_length)
    why = f"{cut:.1%} of the training texts run past {max_length} tokens"
    if cfg.long_texts == AUTO and cut > 0.05:  # many cut: say what else there is
        why += "; --long-texts chunks or head-tail read past it (docs/long-texts.md)"
    return reading, f"long texts: {mode}, {reading.describe()} ({why})"


def expected_rows(
    rows: int, lengths: Sequence[int], reading: Reading, tokenizer: PreTrainedTokenizerBase
) -> int:
    """Training rows under `reading`: `rows` texts, each as many windows as the sampled
    lengths say on average (one each, unless chunks)."""
    if reading.mode != CHUNKS or not len(lengths):
        return rows
    reader = TextReader.from_transformers(tokenizer, reading)
    specials = reading.max_length - reader.content
    windows = sum(count_windows(n - specials, reader.content, reading) for n in lengths)
    return math.ceil(rows * windows / len(lengths))


def _budget_words(budget: Budget, rows: int, classes: int, batch: int, changes: dict) -> str:
    steps = budget.epochs * budget.steps_per_epoch
    evaluations = round(budget.epochs / budget.eval_every)
    patience = changes.get("patience")
    stop = (
        f"early stop after {patience} without a better score"
        if patience is not None
        else "early stopping as set"
    )
    return (
        f"{budget.epochs} epochs = {steps:,} steps of {batch} (epochs auto: at least "
        f"{STEP_FLOOR} steps and each of {classes} classes seen {SEEN_PER_CLASS:,} times over "
        f"{rows:,} rows, {MIN_EPOCHS}-{MAX_EPOCHS} epochs); validation every "
        f"{budget.eval_every:g} epoch ({evaluations} evaluations), {stop}"
    )


def _length_words(lengths: Sequence[int], chosen: int, limit: int) -> str:
    return (
        f"max length {chosen} tokens (max-length auto: 95th percentile {length_quantile(lengths)} of "
        f"{len(lengths):,} training texts, rounded up to {LENGTH_MULTIPLE}, at most {limit}); "
        f"it cuts {share_cut(lengths, chosen):.1%} of them"
    )


def small_data_warning(data: LoadedData) -> str | None:
    """One line when some class has fewer than FEW_ROWS_PER_CLASS training rows: what was
    found, what to expect, what to do."""
    counts = data.class_counts("train")
    fewest = int(counts.min()) if len(counts) else 0
    if fewest >= FEW_ROWS_PER_CLASS:
        return None
    thin = [
        name
        for name, n in zip(data.label_names, counts.tolist(), strict=True)
        if n < FEW_ROWS_PER_CLASS
    ]
    named = ", ".join(thin[:5]) + (f" and {len(thin) - 5} more" if len(thin) > 5 else "")
    return (
        f"very little data: {len(thin)} of {len(data.label_names)} classes have fewer than "
        f"{FEW_ROWS_PER_CLASS} training rows (fewest {fewest}: {named}). Expect those classes "
        "to be predicted rarely or never and validation scores to swing; add labelled rows for "
        "them (a few dozen each), or merge them into a broader class."
    )
