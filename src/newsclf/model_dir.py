"""Model directories, in one place: what a saved model directory holds, how a run directory
resolves to its model, and reading its config and class names without loading any weights.

A model directory is what `save_pretrained` writes (config.json with `id2label`, the weights,
the tokenizer files), or what `newsclf export` writes (model.onnx beside the same files).
Every command that takes a model (predict, evaluate, serve, export) resolves it here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from newsclf import paths
from newsclf.errors import ModelError
from newsclf.rundir import BEST_MODEL
from newsclf.task import ModelTask

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ONNX_FILE = "model.onnx"  # an export's weights (newsclf export)
EXPORT_INFO = "export.json"  # marks a directory written by newsclf export
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")


def is_onnx_dir(path: str | Path) -> bool:
    """True for a directory written by `newsclf export` (it holds model.onnx)."""
    return (Path(path) / ONNX_FILE).is_file()


def find_model_dir(path: str | Path) -> Path:
    """A run directory resolves to its best_model/; either way the directory is checked."""
    path = Path(path)
    if (path / BEST_MODEL).is_dir():
        path = path / BEST_MODEL
    check_model_dir(path)
    return path


def check_model_dir(path: Path) -> None:
    """Refuse a directory that lacks weights, a config, or a tokenizer, listing what it holds.

    An ONNX export (model.onnx, or the export.json `newsclf export` writes) needs model.onnx
    and tokenizer.json; a PyTorch model needs its weights and any tokenizer files."""
    if not path.exists():
        raise ModelError(
            paths.missing(path, "Model directory").replace(
                "Check the path.", "Pass a run directory or its best_model/."
            )
        )
    if not path.is_dir():
        raise ModelError(
            f"{path} is a file; expected a model directory written by save_pretrained "
            "(a run directory or its best_model/)."
        )
    found = sorted(p.name for p in path.iterdir())
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    onnx = (path / ONNX_FILE).is_file() or (path / EXPORT_INFO).is_file()
    if not any((path / f).is_file() for f in (*WEIGHT_FILES, ONNX_FILE)):
        missing.append(f"weights ({ONNX_FILE})" if onnx else "weights (model.safetensors)")
    if onnx and not (path / "tokenizer.json").is_file():
        missing.append("tokenizer.json (an exported model needs its fast tokenizer)")
    elif not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json or vocab.txt)")
    if missing:
        hint = " Pass the run's best_model/ directory." if (path / BEST_MODEL).is_dir() else ""
        raise ModelError(
            f"{path} is not a complete model directory: missing {', '.join(missing)} "
            f"(found: {found[:12]}). Expected the output of save_pretrained.{hint}"
        )


def model_config(path: Path) -> dict[str, Any]:
    """A model directory's config.json, read without loading the model."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(
            f"{path / 'config.json'} cannot be read as JSON ({err}). Re-save the model with "
            "save_pretrained."
        ) from None
    if not isinstance(config, dict):
        raise ModelError(f"{path / 'config.json'} does not hold a JSON object. Re-save the model.")
    return config


def model_label_names(path: Path) -> list[str]:
    """The class names in id order, from config.json's id2label (no weights loaded)."""
    id2label = model_config(path).get("id2label") or {}
    try:
        return [str(id2label[str(i)]) for i in range(len(id2label))]
    except KeyError:
        raise ModelError(
            f"{path / 'config.json'} has id2label {id2label}: expected ids 0..N-1. Re-save the model."
        ) from None


def model_task(path: Path) -> ModelTask:
    """The class names, whether the model is multi-label, and its thresholds (no weights
    loaded)."""
    return ModelTask.from_config(model_config(path), model_label_names(path))
