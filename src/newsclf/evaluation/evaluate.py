"""`newsclf evaluate`: score a run's best model (or any model directory) on labelled data and
write the metrics JSON; and `score_split`, which training's final test (and the calibration
fitted on validation) use too.

Besides the classification metrics, every scoring reports how far the probabilities can be
trusted: expected calibration error, log loss, the reliability table and accuracy against
coverage (docs/trust.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.config import TrainConfig, require_positive
from newsclf.distributed import launched, process_state
from newsclf.errors import DataError, OutputError
from newsclf.evaluation.calibration import calibration_scores, reliability_of
from newsclf.evaluation.coverage import (
    accuracy_coverage,
    answered_at,
    check_target_accuracy,
    confidence_and_correct,
    confidence_for_accuracy,
)
from newsclf.evaluation.metrics import compute_metrics, sample_predictions
from newsclf.inference import Classifier, ShardedInference
from newsclf.model_dir import find_model_dir, model_task
from newsclf.paths import check_writable_file
from newsclf.quiet import show_progress

if TYPE_CHECKING:
    from newsclf.inference import Inference


def score_split(
    classifier: Classifier,
    texts: list[str],
    labels: list[int] | list[list[int]],
    split: str,
    batch_size: int | None = None,
    *,
    return_embeddings: bool = False,
    progress: bool = False,
    sharded: bool = False,
) -> tuple[dict[str, Any], Inference]:
    """Run the classifier over a split; return (metrics with samples and timing, inference).

    `sharded` (every process of `accelerate launch` calls it): each process scores its shard
    of the rows (`ShardedInference`) and gets all rows back, once each, in input order; no
    embeddings then."""
    start = time.perf_counter()
    if sharded:
        sharded = ShardedInference(classifier, batch_size)
        inference, processes = sharded.infer(texts), sharded.num_processes
    else:
        inference = classifier.infer(
            texts, return_embeddings, batch_size=batch_size, progress=progress
        )
        processes = 1
    seconds = time.perf_counter() - start
    metrics = {
        "split": split,
        **compute_metrics(
            labels, inference.predicted, classifier.label_names, inference.thresholds
        ),
        **trust_metrics(inference, labels),
        "samples": sample_predictions(texts, labels, inference, classifier.label_names),
        "reading": classifier.reading_summary(texts),
        "seconds": round(seconds, 3),
        "samples_per_second": round(len(texts) / seconds, 1) if seconds else None,
    }
    if processes > 1:
        metrics["num_processes"] = processes
    return metrics, inference


def trust_metrics(inference: Inference, labels: list[int] | list[list[int]]) -> dict[str, Any]:
    """ECE and log loss, the reliability table, and accuracy against coverage."""
    conf, correct = confidence_and_correct(inference, labels)
    return {
        **calibration_scores(inference.probabilities, labels),
        "reliability": reliability_of(inference.probabilities, labels),
        "accuracy_coverage": accuracy_coverage(conf, correct),
    }


def evaluate(
    run_or_model_dir: str | Path,
    data: str | None = None,
    split: str = "test",
    output: str | Path | None = None,
    batch_size: int | None = None,
    quiet: bool = False,
    *,
    label_map: str | dict[str, str] | None = None,
    header: bool | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    target_accuracy: float | None = None,
) -> dict:
    """Score a run's best model (or any model dir) on a split and write `test_metrics.json`.

    With a run directory, the data defaults to the run's own; `data` (a file, dir, Hub id or
    'ag_news') replaces it. The metrics go to `<run>/test_metrics.json` (with `data`:
    `<run>/test_metrics.<data name>.json`, so the run's own scores stay) unless `output` is given.
    Labels are matched to the model's class names ignoring case and punctuation; `label_map`
    (`world=World,...`, a dict, or a JSON/YAML file) renames the others first. Everything is
    checked before the model is loaded.

    `target_accuracy` (e.g. 0.97): the lowest --min-confidence whose answers reach it on the
    validation split, and the share of `split` it answers there (metrics["target_accuracy"]).
    """
    from newsclf.data import load_eval_split, parse_label_map

    path = Path(run_or_model_dir)
    model_dir = find_model_dir(path)
    if batch_size is not None:  # None: the backend's own (PyTorch CPU/GPU, ONNX Runtime)
        require_positive(batch_size, "batch_size")
    if target_accuracy is not None:
        check_target_accuracy(target_accuracy)
    target = Path(output) if output else _default_output(path, split, data)
    check_writable_file(target, "--output")
    columns = {"header": header, "text_column": text_column, "label_column": label_column}
    cfg = _data_config(path, data, {k: v for k, v in columns.items() if v is not None})
    state, mapping = process_state(), parse_label_map(label_map)

    def read(name: str) -> tuple[list[str], list, list[str]]:
        with state.main_process_first():  # the others then read what the main process cached
            return load_eval_split(cfg, name, model_task(model_dir), data is not None, mapping)

    texts, labels, notes = read(split)
    device = str(state.device) if launched() else None
    classifier = Classifier.from_pretrained(model_dir, device=device)
    metrics, inference = score_split(
        classifier, texts, labels, split, batch_size, progress=show_progress(quiet),
        sharded=launched(),
    )  # fmt: skip
    if target_accuracy is not None:
        val_texts, val_labels, _ = read("validation")
        _, val = score_split(classifier, val_texts, val_labels, "validation", batch_size,
                             sharded=launched())  # fmt: skip
        metrics["target_accuracy"] = target_accuracy_table(
            target_accuracy,
            confidence_and_correct(val, val_labels),
            confidence_and_correct(inference, labels),
        )
    if not state.is_main_process:
        return {**metrics, "notes": notes}  # the main process writes and reports, once
    metrics["notes"] = notes
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    except OSError as err:
        raise OutputError(
            f"Cannot write {target}: {err.strerror}. Pass another --output."
        ) from None
    metrics["written_to"] = str(target)
    return metrics


def target_accuracy_table(
    target: float, validation: tuple[Any, Any], scored: tuple[Any, Any]
) -> dict[str, Any]:
    """The confidence chosen on validation (confidence, correct) for `target` accuracy, and
    what it answers there and on the scored split."""
    chosen = confidence_for_accuracy(*validation, target)
    out: dict[str, Any] = {"target": target, "min_confidence": chosen}
    if chosen is not None:
        out["validation"] = answered_at(*validation, chosen)
        out["scored"] = answered_at(*scored, chosen)
    return out


def _data_config(path: Path, data: str | None, options: dict[str, Any]) -> TrainConfig:
    """The run's own data settings, with `data` and the column options swapped in when given."""
    run_config = rundir.run_dir_of(path) / rundir.CONFIG_YAML
    if run_config.is_file():
        values = TrainConfig.from_yaml(run_config).to_dict()
        if data is not None:
            values.update(data=data, test_data=None, validation_data=None)
        return TrainConfig.from_dict({**values, **options})
    if data is None:
        raise DataError(
            f"{path} is a model directory, not a run: pass the data to score with --data "
            "(e.g. --data ag_news, or a CSV file)."
        )
    return TrainConfig.from_dict({"data": data, **options})


def _default_output(path: Path, split: str, data: str | None) -> Path:
    """`<run>/test_metrics.json` for the run's own data; scores on other data are named for it."""
    import re

    run_dir = rundir.run_dir_of(path)
    if data is None:
        return run_dir / f"{split}_metrics.json"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(data).name.split(".")[0]).strip("-") or "data"
    return run_dir / f"{split}_metrics.{name}.json"
