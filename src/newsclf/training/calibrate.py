"""Calibration of a saved model, folded into its weights (docs/trust.md).

After training, the best model scores the validation split (through `score_split`, the same
path the test takes); a temperature (single-label) or a scale and offset per tag (multi-label)
is fitted to those logits (`newsclf.evaluation.calibration`) and folded into the output layer:
weights and bias times the scale, plus the offset. best_model/ stays a plain checkpoint, so
`transformers.pipeline` returns the calibrated probabilities, the same numbers as newsclf. A
multi-label model's thresholds are then tuned again on the calibrated probabilities.

config.json keeps what was done under CALIBRATION_KEY (the temperature, or each tag's scale and
offset, and the validation scores before and after). `newsclf.training.run.calibrate_run` does
the same for a run trained before calibration existed (or with `--calibration none`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.errors import ModelError
from newsclf.evaluation import score_split
from newsclf.evaluation.calibration import (
    calibration_scores,
    calibration_words,
    fit_platt,
    fit_temperature,
)
from newsclf.evaluation.thresholds import tune_thresholds
from newsclf.inference import Classifier
from newsclf.inference.classifier import sigmoid, softmax
from newsclf.model_dir import model_config
from newsclf.task import CALIBRATION_KEY, THRESHOLD_MODE_KEY, THRESHOLDS_KEY
from newsclf.training.console import say
from newsclf.training.model import output_layer

if TYPE_CHECKING:
    import numpy as np
    import torch

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData

TEMPERATURE = "temperature"
PLATT = "platt"
# Below this many validation rows the fit is warned about, and a temperature is never below 1:
# those rows also chose the best epoch, so the model looks surer on them than it is on new data.
# On AG News with 20 validation rows an unbounded fit (T = 0.31) sharpened the probabilities and
# doubled the test ECE; with 500 rows it halved it (docs/trust.md). Fine-tuned models are
# over-confident (Guo et al. 2017): a temperature softens them, and T >= 1 keeps that direction.
FEW_ROWS = 200


def calibrate_best_model(
    cfg: TrainConfig, data: LoadedData, model_dir: Path, metric: str
) -> dict[str, Any] | None:
    """Fit the calibration on the validation split and fold it into `model_dir`'s weights;
    return what config.json now holds under CALIBRATION_KEY (None with calibration 'none').
    A model already calibrated (a run resumed after this step) is left as it is."""
    if cfg.calibration == "none":
        return None
    already = model_config(model_dir).get(CALIBRATION_KEY)
    if already:
        return already
    classifier = Classifier.from_pretrained(model_dir, precision=cfg.precision)
    labels = data.label_matrix("validation")
    texts = data.splits["validation"]["text"]
    _, inference = score_split(
        classifier, texts, labels.tolist(), "validation", batch_size=cfg.eval_batch_size
    )
    if len(labels) < FEW_ROWS:
        say(
            f"Note: calibration is fitted on {len(labels)} validation rows (under {FEW_ROWS}), "
            "the rows that also chose the best model: its temperature is kept at 1 or above "
            "and may still not help. Pass --validation-data with more rows, or --calibration "
            "none (docs/trust.md)."
        )
    scale, offset, info = fit(inference.logits, labels, classifier.label_names)
    activate = sigmoid if classifier.multi_label else softmax
    before, after = activate(inference.logits), activate(inference.logits * scale + offset)
    info["fitted_on"] = {"split": "validation", "rows": len(labels)}
    info["validation"] = {
        "before": calibration_scores(before, labels),
        "after": calibration_scores(after, labels),
    }
    updates: dict[str, Any] = {CALIBRATION_KEY: info}
    if classifier.multi_label:  # thresholds tuned again, on the calibrated probabilities
        tuned = tune_thresholds(after, labels, cfg.thresholds, metric)
        names = classifier.label_names
        updates[THRESHOLDS_KEY] = dict(zip(names, map(float, tuned), strict=True))
        updates[THRESHOLD_MODE_KEY] = cfg.thresholds
    fold_into_saved_model(model_dir, scale, offset, updates)
    return info


def fit(
    logits: np.ndarray, labels: np.ndarray, names: list[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(scale, offset) per class and their description: one temperature for class ids [N],
    Platt's pair per tag for a 0/1 matrix [N, C]. Rounded as config.json keeps them, so what
    is folded is exactly what is recorded."""
    import numpy as np

    if labels.ndim == 2:
        scale, offset = (x.round(6) for x in fit_platt(logits, labels))
        info = {
            "method": PLATT,
            "scale": dict(zip(names, scale.tolist(), strict=True)),
            "offset": dict(zip(names, offset.tolist(), strict=True)),
        }
        return scale, offset, info
    fitted = round(fit_temperature(logits, labels), 6)
    temperature = max(fitted, 1.0) if len(labels) < FEW_ROWS else fitted
    classes = logits.shape[1]
    info = {"method": TEMPERATURE, "temperature": temperature}
    if temperature != fitted:  # kept: what the few rows alone asked for
        info["fitted_temperature"] = fitted
    return np.full(classes, 1 / temperature), np.zeros(classes), info


def uncalibrated_logits(logits: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The logits the model gave before the calibration `info` was folded in."""
    import numpy as np

    if info["method"] == TEMPERATURE:
        return logits * info["temperature"]
    scale, offset = np.array(list(info["scale"].values())), np.array(list(info["offset"].values()))
    return (logits - offset) / scale


def describe(info: dict[str, Any]) -> str:
    """'temperature 1.42', or 'a scale and offset per tag (Platt)'."""
    words = calibration_words(info)
    return words if info.get("method") == TEMPERATURE else f"{words} (Platt)"


def fold_into_saved_model(
    model_dir: Path, scale: np.ndarray, offset: np.ndarray, config: dict[str, Any]
) -> None:
    """logits -> logits * scale + offset, in the output layer of the model saved in
    `model_dir`, with `config` added to its config.json. Written beside it, then swapped in."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    fold(output_layer(model), scale, offset)
    for key, value in config.items():
        setattr(model.config, key, value)
    tmp = rundir.temporary(model_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)  # the tokenizer and any other files come along
    model.save_pretrained(tmp)
    rundir.replace_dir(tmp, model_dir)


def fold(layer: torch.nn.Linear, scale: np.ndarray, offset: np.ndarray) -> None:
    """Scale each output's weights and bias, and add the offset to its bias."""
    import torch

    with torch.no_grad():
        s = torch.as_tensor(scale, dtype=layer.weight.dtype)
        layer.weight.mul_(s[:, None])
        if layer.bias is None:
            if bool((torch.as_tensor(offset) != 0).any()):
                raise ModelError(
                    "The model's output layer has no bias to hold the calibration offset; "
                    "train it with --calibration none."
                )
            return
        layer.bias.mul_(s).add_(torch.as_tensor(offset, dtype=layer.bias.dtype))
