"""Export a saved model to ONNX (optionally int8) with its tokenizer and class names beside it.

The dynamo exporter (`torch.onnx.export(dynamo=True)`) is used: with transformers 5 the legacy
TorchScript exporter bakes the example's attention-mask shape into the graph, and its outputs
then drift from PyTorch's on other lengths (docs/performance.md).
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.errors import ModelError, OutputError
from newsclf.inference.classifier import sigmoid, softmax
from newsclf.inference.onnx_backend import EMBEDDING, LOGITS, OnnxBackend
from newsclf.inference.torch_backend import TorchBackend
from newsclf.model_dir import EXPORT_INFO, ONNX_FILE, find_model_dir, is_onnx_dir
from newsclf.quiet import quiet_libraries
from newsclf.reading import Reading
from newsclf.task import MULTI_LABEL, PROBLEM_TYPES

if TYPE_CHECKING:
    import torch

# Texts of different lengths: the export's example batch and its parity check.
SAMPLE_TEXTS = (
    "Stocks rally as the central bank holds rates.",
    "Federer wins his fifth Wimbledon title after a five-set final against Nadal on Sunday.",
    "New chip doubles battery life",
    "Peace talks resume in Geneva; delegates from both sides arrive with fresh proposals.",
    # A text longer than any window: the long-text reading (windows, pooling) is checked too.
    " ".join(["Markets steady as talks resume and the champion defends her title."] * 60),
)


def export(
    model_dir: str | Path, out_dir: str | Path, *, int8: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Write `out_dir`: model.onnx (dynamic batch and sequence axes; outputs `logits` and
    `cls_embedding`), config.json with the class names, the tokenizer files, README.md and
    export.json (what was exported and the largest probability gap to PyTorch on a few texts).

    `int8` quantizes the weights with ONNX Runtime's dynamic quantization. The directory is
    built in a hidden sibling and renamed into place, so a failed export leaves nothing."""
    source = find_model_dir(model_dir)
    if is_onnx_dir(source):
        raise ModelError(
            f"{source} is already an ONNX export: pass the PyTorch model it came from "
            "(a run directory or its best_model/)."
        )
    out = Path(out_dir)
    _check_out_dir(out, overwrite)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        stage.chmod(0o755)  # mkdtemp's 0700 would make the exported model private
        # The exporter logs skipped torchvision ops, the quantizer a pre-processing tip, and
        # transformers a loading bar: noise in a one-shot command. Errors still show.
        with quiet_libraries("logging", "transformers"):
            info = _build(source, stage, int8)
        _move_into_place(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return {**info, "written_to": str(out)}


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; expected a directory to export into. Pass another.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(
            f"{out} already exists and is not empty: pass --overwrite to replace it, or another "
            "OUT_DIR."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"Cannot create {out.parent}: {err.strerror}. Pass another OUT_DIR."
        ) from None


def _move_into_place(stage: Path, out: Path) -> None:
    """Swap the finished directory in; an old one is removed only once the new one is there."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{stage.name}")
        out.rename(old)
    stage.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(source: Path, stage: Path, int8: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ModelError(
            f"{source} has a slow (Python) tokenizer; ONNX Runtime users need tokenizer.json. "
            "Re-save the model with a fast tokenizer."
        )
    onnx_file = stage / ONNX_FILE
    inputs = _export_graph(model, tokenizer, onnx_file)
    if int8:
        _quantize(onnx_file)
    _save_config(model.config, stage)
    tokenizer.save_pretrained(stage)
    info = {
        "source": str(source.resolve()),
        "weights": "int8 (dynamic quantization, per channel)" if int8 else "fp32",
        "outputs": [LOGITS, EMBEDDING],
        "max_abs_prob_diff_vs_pytorch": _parity(model, tokenizer, stage),
        "size_bytes": onnx_file.stat().st_size,
    }
    (stage / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    readme = _readme(model.config, inputs, int8)
    (stage / "README.md").write_text(_with_model_card(source, readme), encoding="utf-8")
    return info


def _with_model_card(source: Path, readme: str) -> str:
    """The source's model card (best_model/README.md: data, results, calibration), with how
    to run the export as its last section; the export's own page alone where there is none."""
    card = source / "README.md"
    if not card.is_file():
        return readme
    section = readme.replace("\n## ", "\n### ").replace("# ", "## ", 1)
    return card.read_text(encoding="utf-8").rstrip() + "\n\n" + section


def _save_config(config: Any, stage: Path) -> None:
    """config.json with id2label always written: transformers leaves out the default
    LABEL_0..N names, and the ONNX path reads the class names from this file alone."""
    config.save_pretrained(stage)
    path = stage / "config.json"
    values = json.loads(path.read_text(encoding="utf-8"))
    values["id2label"] = {str(i): config.id2label[i] for i in range(config.num_labels)}
    values["label2id"] = {name: i for i, name in config.id2label.items()}
    path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


def _wrap(model: Any) -> torch.nn.Module:
    """The module the graph is traced from: token columns -> (logits, [CLS] embedding)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
                **extra,
            )
            return out.logits, out.hidden_states[-1][:, 0]

    return Wrapped()


def _export_graph(model: Any, tokenizer: Any, file: Path) -> list[str]:
    """Trace the model to `file`; return the graph's input names."""
    import torch

    names = ["input_ids", "attention_mask"]
    # Only where both sides use it: a DistilBERT saved with a BERT tokenizer gets none.
    takes = inspect.signature(model.forward).parameters
    if "token_type_ids" in tokenizer.model_input_names and "token_type_ids" in takes:
        names.append("token_type_ids")
    short = [t for t in SAMPLE_TEXTS if len(t) < 200]  # traced within any model's positions
    enc = tokenizer(short, padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {0: batch, 1: sequence}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
        program = torch.onnx.export(
            _wrap(model),
            tuple(enc[name] for name in names),
            dynamo=True,
            input_names=names,
            output_names=[LOGITS, EMBEDDING],
            dynamic_shapes=tuple(axes for _ in names),
            optimize=True,
            verbose=False,
        )
    program.save(str(file), external_data=False)
    return names


def _quantize(file: Path) -> None:
    """Weights of MatMul/Gemm to int8 in place; activations are quantized on the fly.

    Per output channel: on the demo model per-tensor scales cost 0.51 accuracy points on the
    test split, per-channel 0.05, at the same speed (docs/performance.md)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = file.with_name("model.fp32.onnx")
    file.rename(fp32)
    quantize_dynamic(fp32, file, weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()


def _parity(model: Any, tokenizer: Any, stage: Path) -> float:
    """The largest gap between PyTorch's and ONNX Runtime's probabilities on SAMPLE_TEXTS
    (softmax, or a sigmoid per class for a multi-label model)."""
    import numpy as np

    activate = sigmoid if _multi_label(model.config) else softmax
    expected = activate(TorchBackend(model, tokenizer).infer(list(SAMPLE_TEXTS), 8)[0])
    logits, _ = OnnxBackend(stage).infer(list(SAMPLE_TEXTS))
    return float(np.abs(activate(logits) - expected).max())


def _multi_label(config: Any) -> bool:
    return config.problem_type == PROBLEM_TYPES[MULTI_LABEL]


def _readme(config: Any, inputs: list[str], int8: bool) -> str:
    multi = _multi_label(config)
    reading = Reading.from_config(config.to_dict())
    return README_TEMPLATE.format(
        max_length=reading.max_length,
        reading=reading.describe(),
        weights="int8 weights (dynamic quantization)" if int8 else "fp32 weights",
        labels=[config.id2label[i] for i in range(config.num_labels)],
        inputs=", ".join(inputs),
        activation=MULTI_LABEL_OUTPUT if multi else SINGLE_LABEL_OUTPUT,
        task="multi-label: any number of tags per text" if multi else "one class per text",
    )


SINGLE_LABEL_OUTPUT = """\
probs = np.exp(logits - logits.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)
for text, row in zip(texts, probs):
    print(id2label[str(row.argmax())], round(float(row.max()), 3), text)"""

MULTI_LABEL_OUTPUT = """\
# Multi-label: a sigmoid per class; a tag applies at or above its threshold, tuned on the
# validation split when the model was trained (config.json, "newsclf_thresholds").
thresholds = json.load(open("config.json")).get("newsclf_thresholds", {})
probs = 1 / (1 + np.exp(-logits))
for text, row in zip(texts, probs):
    names = [id2label[str(i)] for i in range(len(row))]
    print([n for n, p in zip(names, row) if p >= thresholds.get(n, 0.5)], text)"""


README_TEMPLATE = """\
# ONNX text classifier ({weights})

Written by `newsclf export` ({task}). Classes, in output order: {labels}

- `model.onnx`: inputs {inputs} (int64, `[batch, sequence]`);
  outputs `logits` `[batch, classes]` and `cls_embedding` `[batch, hidden]`.
- `tokenizer.json`: the fast tokenizer; `config.json`: `id2label` holds the class names.
- `export.json`: where it came from, and the largest probability gap to PyTorch on a few texts.

How it reads a text: {reading}. `newsclf predict` (and `Classifier`) read every text that
way; the plain lines below read only the first {max_length} tokens of a text
(docs/long-texts.md says how to pool windows yourself).

## Run it with onnxruntime and tokenizers alone

```python
# pip install onnxruntime tokenizers numpy
import json
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

tok = Tokenizer.from_file("tokenizer.json")
tok.enable_truncation({max_length})
tok.enable_padding()  # pads each batch to its longest text
session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
id2label = json.load(open("config.json"))["id2label"]

texts = ["Stocks rally as the central bank holds rates", "Federer wins at Wimbledon"]
enc = tok.encode_batch(texts)
feed = {{
    "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
}}
names = [i.name for i in session.get_inputs()]
logits = session.run(["logits"], {{k: v for k, v in feed.items() if k in names}})[0]
{activation}
```

With newsclf installed, the directory is a model like any other:
`newsclf predict THIS_DIR "some text"`, `newsclf evaluate THIS_DIR --data ag_news`, or
`Classifier.from_pretrained("THIS_DIR")` in Python.
"""
