"""Metrics for a model on a labelled split: accuracy, macro-F1, per class, confusion matrix."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.config import TrainConfig, require_positive
from newsclf.errors import DataError, OutputError
from newsclf.model import find_model_dir, model_label_names
from newsclf.paths import check_writable_file
from newsclf.sharded import ShardedInference, process_state

if TYPE_CHECKING:
    from newsclf.predict import Inference


def compute_metrics(
    labels: Sequence[int], predicted: Sequence[int], label_names: list[str]
) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=ids, zero_division=0
    )
    return {
        "num_samples": len(labels),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(
            f1_score(labels, predicted, labels=ids, average="macro", zero_division=0)
        ),
        "label_names": list(label_names),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=ids).tolist(),
    }


def sample_predictions(
    texts: Sequence[str],
    labels: Sequence[int],
    inference: Inference,
    label_names: list[str],
    n: int = 8,
) -> list[dict[str, Any]]:
    """A few rows spread over the split, so the samples are not all from one class."""
    step = max(1, len(texts) // n)
    rows = list(range(0, len(texts), step))[:n]
    probs, predicted = inference.probabilities, inference.predicted
    return [
        {
            "text": texts[i],
            "label": label_names[labels[i]],
            "predicted": label_names[predicted[i]],
            "confidence": float(probs[i, predicted[i]]),
        }
        for i in rows
    ]


def format_report(metrics: dict) -> str:
    """The per-class table and headline numbers, as printed by `newsclf evaluate` and `train`."""
    names = metrics["label_names"]
    width = max(10, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  "
            f"{row['support']:7d}"
        )
    lines.append(
        f"accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"on {metrics['num_samples']:,} {metrics.get('split', '')} rows"
    )
    lines.append("confusion matrix (rows: true, columns: predicted):")
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{width}} " + " ".join(f"{c:6d}" for c in row))
    return "\n".join(lines)


def format_samples(samples: list[dict[str, Any]], width: int = 70) -> str:
    lines = []
    for s in samples:
        mark = "ok " if s["label"] == s["predicted"] else "MISS"
        text = s["text"] if len(s["text"]) <= width else s["text"][: width - 3] + "..."
        lines.append(
            f"  {mark} {s['predicted']:<10} ({s['confidence']:.2f})  true {s['label']:<10} {text}"
        )
    return "\n".join(lines)


def score_split(
    classifier: Any, texts: list[str], labels: list[int], split: str, **infer: Any
) -> tuple:
    """Run the classifier over a split; return (metrics with samples and timing, inference)."""
    start = time.perf_counter()
    inference = classifier.infer(texts, **infer)
    seconds = time.perf_counter() - start
    metrics = {
        "split": split,
        **compute_metrics(labels, inference.predicted, classifier.label_names),
    }
    metrics["samples"] = sample_predictions(texts, labels, inference, classifier.label_names)
    metrics["seconds"] = round(seconds, 3)
    metrics["samples_per_second"] = round(len(texts) / seconds, 1) if seconds else None
    return metrics, inference


def score_sharded(
    classifier: Any, texts: list[str], labels: list[int], split: str, batch_size: int | None
) -> dict:
    """`score_split` under `accelerate launch`: each process scores its shard of the rows
    (`ShardedInference`), and every process gets all rows back, once each, in input order."""
    sharded = ShardedInference(classifier, batch_size)
    start = time.perf_counter()
    inference = sharded.infer(texts)
    seconds = time.perf_counter() - start
    metrics = {
        "split": split,
        **compute_metrics(labels, inference.predicted, classifier.label_names),
        "samples": sample_predictions(texts, labels, inference, classifier.label_names),
        "seconds": round(seconds, 3),
        "samples_per_second": round(len(texts) / seconds, 1) if seconds else None,
        "num_processes": sharded.num_processes,
    }
    return metrics


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
) -> dict:
    """Score a run's best model (or any model dir) on a split and write `test_metrics.json`.

    With a run directory, the data defaults to the run's own; `data` (a file, dir, Hub id or
    'ag_news') replaces it. The metrics go to `<run>/test_metrics.json` (with `data`:
    `<run>/test_metrics.<data name>.json`, so the run's own scores stay) unless `output` is given.
    Labels are matched to the model's class names ignoring case and punctuation; `label_map`
    (`world=World,...`, a dict, or a JSON/YAML file) renames the others first. Everything is
    checked before the model is loaded.
    """
    from newsclf.data import load_eval_split, parse_label_map
    from newsclf.predict import Classifier, show_progress

    path = Path(run_or_model_dir)
    model_dir = find_model_dir(path)
    if batch_size is not None:  # None: the backend's own (PyTorch CPU/GPU, ONNX Runtime)
        require_positive(batch_size, "batch_size")
    target = Path(output) if output else _default_output(path, split, data)
    check_writable_file(target, "--output")
    columns = {"header": header, "text_column": text_column, "label_column": label_column}
    cfg = _data_config(path, data, {k: v for k, v in columns.items() if v is not None})
    state = process_state()
    with state.main_process_first():  # the others then read what the main process cached
        texts, labels, notes = load_eval_split(
            cfg, split, model_label_names(model_dir), data is not None, parse_label_map(label_map)
        )
    if state.num_processes > 1:
        classifier = Classifier.from_pretrained(model_dir, device=str(state.device))
        metrics = score_sharded(classifier, texts, labels, split, batch_size)
        if not state.is_main_process:
            return {**metrics, "notes": notes}  # the main process writes and reports, once
    else:
        classifier = Classifier.from_pretrained(model_dir)
        metrics, _ = score_split(
            classifier, texts, labels, split, batch_size=batch_size, progress=show_progress(quiet)
        )
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


def _data_config(path: Path, data: str | None, options: dict[str, Any]) -> TrainConfig:
    """The run's own data settings, with `data` and the column options swapped in when given."""
    run_config = path / rundir.CONFIG_YAML
    if not run_config.is_file():
        run_config = (
            path.parent / rundir.CONFIG_YAML if path.name == rundir.BEST_MODEL else run_config
        )
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

    run_dir = path.parent if path.name == rundir.BEST_MODEL else path
    if data is None:
        return run_dir / f"{split}_metrics.json"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(data).name.split(".")[0]).strip("-") or "data"
    return run_dir / f"{split}_metrics.{name}.json"
