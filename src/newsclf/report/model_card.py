"""The model card: best_model/README.md, in the Hugging Face Hub's format.

YAML metadata (pipeline_tag, base_model, datasets where known, model-index with the test
metrics) built with huggingface_hub's ModelCardData and EvalResult, and a body of sections, one
function each (`SECTIONS`): a section with nothing to say (no test yet, a single-label model's
thresholds) returns None and is left out. `newsclf export` copies the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf.config import DEFAULT_DATA, DEFAULT_MODEL
from newsclf.errors import ConfigError
from newsclf.evaluation.metrics import threshold_text
from newsclf.reading import CHUNKS, HEAD_TAIL, Reading
from newsclf.task import METRIC_NAMES, MULTI_LABEL, THRESHOLDS_KEY

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from newsclf.config import TrainConfig

CARD_FILE = "README.md"
# The Hub ids of what newsclf ships offline, for the card's metadata.
HUB_MODEL_IDS = {DEFAULT_MODEL: "sentence-transformers/all-MiniLM-L6-v2"}
HUB_DATASET_IDS = {DEFAULT_DATA: "fancyzhx/ag_news"}
DATASET_NAMES = {DEFAULT_DATA: "AG News"}


@dataclass
class CardContent:
    config: TrainConfig
    data_summary: dict[str, Any]  # LoadedData.summary()
    history: dict[str, Any]  # history.json
    metrics: dict[str, Any] | None = None  # test_metrics.json; None before (or without) a test
    calibration: dict[str, Any] | None = None  # config.json's CALIBRATION_KEY
    thresholds: dict[str, Any] | None = None  # thresholds.json (multi-label)


def write_model_card(model_dir: Path, content: CardContent) -> Path:
    path = Path(model_dir) / CARD_FILE
    build_model_card(content).save(path)
    return path


def build_model_card(content: CardContent) -> ModelCard:
    from huggingface_hub import ModelCard

    body = "\n\n".join(text for section in SECTIONS if (text := section(content)))
    return ModelCard(f"---\n{card_data(content).to_yaml()}\n---\n\n{body}\n")


def card_data(c: CardContent) -> Any:
    from huggingface_hub import ModelCardData

    base = _hub_model(c.config.model)
    dataset = HUB_DATASET_IDS.get(c.config.data) or _hub_dataset(c.config.data)
    return ModelCardData(
        model_name=c.config.name,
        pipeline_tag="text-classification",
        library_name="transformers",
        base_model=base,
        datasets=[dataset] if dataset else None,
        tags=["newsclf", "text-classification", *(["multi-label"] if _multi(c) else [])],
        eval_results=_eval_results(c, dataset),
    )


def _eval_results(c: CardContent, dataset: str | None) -> list[Any] | None:
    from huggingface_hub import EvalResult

    if not c.metrics:
        return None
    keys = ("micro_f1", "macro_f1", "subset_accuracy") if _multi(c) else ("accuracy", "macro_f1")
    name = DATASET_NAMES.get(c.config.data, Path(c.config.data).name)
    return [
        EvalResult(
            task_type="text-classification",
            dataset_type=dataset or name,
            dataset_name=name,
            dataset_split="test",
            metric_type=key,
            metric_name=METRIC_NAMES[key],
            metric_value=round(float(c.metrics[key]), 4),
        )  # fmt: skip
        for key in keys
    ]


def _hub_model(model: str) -> str | None:
    """A Hub id for the base model, or None for a local directory."""
    if model in HUB_MODEL_IDS:
        return HUB_MODEL_IDS[model]
    return None if Path(model).exists() or model.startswith((".", "/", "~")) else model


def _hub_dataset(data: str) -> str | None:
    """A Hub dataset id (owner/name, not a local path), else None."""
    looks_like_id = data.count("/") == 1 and not data.startswith((".", "/", "~"))
    return data if looks_like_id and not Path(data).exists() else None


def _multi(c: CardContent) -> bool:
    return c.data_summary.get("task") == MULTI_LABEL


def _summary(c: CardContent) -> str:
    names = c.data_summary["label_names"]
    kind = "tags (any number per text)" if _multi(c) else "classes (one per text)"
    lines = [
        f"# {c.config.name}",
        "",
        f"A text classifier fine-tuned with [newsclf](https://pypi.org/project/newsclf/) from "
        f"`{_hub_model(c.config.model) or c.config.model}` on {_data_name(c)}. "
        f"{len(names)} {kind}: {', '.join(f'`{n}`' for n in names)}.",
    ]
    if c.metrics:
        lines += ["", f"On its test split: {_headline(c)}."]
    return "\n".join(lines)


def _headline(c: CardContent) -> str:
    m = c.metrics or {}
    if _multi(c):
        return f"micro-F1 {m['micro_f1']:.4f}, subset accuracy {m['subset_accuracy']:.2%}"
    return f"accuracy {m['accuracy']:.2%}, macro-F1 {m['macro_f1']:.4f}"


def _data_name(c: CardContent) -> str:
    return DATASET_NAMES.get(c.config.data) or f"`{c.config.data}`"


def _data(c: CardContent) -> str:
    summary, names = c.data_summary, c.data_summary["label_names"]
    rows = [
        f"| {split} | {s['rows']:,} | "
        + " | ".join(f"{s['class_counts'][n]:,}" for n in names)
        + " |"
        for split, s in summary["splits"].items()
    ]
    carved = summary.get("carved") or []
    note = (
        f" Carved from the training rows (stratified, seed {c.config.seed}): "
        + ", ".join(carved)
        + "."
        if carved
        else ""
    )
    return "\n".join([
        "## Data",
        "",
        f"Source: {summary.get('source', c.config.data)}.{note}",
        "",
        "| split | rows | " + " | ".join(names) + " |",
        "| --- | ---: |" + " ---: |" * len(names),
        *rows,
    ])  # fmt: skip


def _recipe(c: CardContent) -> str:
    cfg, h = c.config, c.history
    keys = ("epochs", "batch_size", "learning_rate", "lr_schedule", "warmup_ratio",
            "weight_decay", "max_length", "precision", "seed")  # fmt: skip
    rows = [f"| `{k}` | {getattr(cfg, k)} |" for k in keys]
    best = h.get("best_epoch")
    soup = h.get("soup")
    saved = f"the soup of {len(soup['seeds'])} members" if soup else f"from epoch {best:g}"
    metric = METRIC_NAMES[h.get("metric", "accuracy")]
    how = "Fine-tuned with `newsclf train`"
    if cfg.distill_from is not None:
        how = (
            f"Distilled with `newsclf distill` from the teacher `{cfg.distill_from}`: "
            f"{cfg.student_layers} of its encoder layers, trained on its logits (alpha "
            f"{cfg.distill_alpha:g}, temperature {cfg.distill_temperature:g}) and the labels"
        )
    return "\n".join([
        "## Training recipe",
        "",
        f"{how} (full settings in the run's config.yaml). The saved "
        f"weights are the best by validation {metric}, {saved}.",
        "",
        "| setting | value |",
        "| --- | --- |",
        *rows,
    ])  # fmt: skip


def _reading(c: CardContent) -> Reading | None:
    """The run's reading; None for a config saved before readings were (nothing to say)."""
    try:
        return Reading.of_config(c.config)
    except ConfigError:
        return None


def _long_texts(c: CardContent) -> str | None:
    """How the model reads a text longer than its max length, and the plain-Python lines that
    read it the same way (docs/long-texts.md)."""
    reading = _reading(c)
    if reading is None:
        return None
    seen = (c.metrics or {}).get("reading")
    lines = ["## How it reads long texts", "", f"newsclf: {reading.describe()}."]
    if seen:
        lines.append(
            f"On the test split {seen['longer_than_max_length']:,} of {seen['texts']:,} texts "
            "were longer than that."
        )
    lines += ["", "`transformers.pipeline` truncates at the max length. To read long texts in "
              "windows as newsclf does, in plain Python:" if reading.mode == CHUNKS else
              "`transformers.pipeline` reads the first tokens; to cut where newsclf cuts:", ""]  # fmt: skip
    if reading.mode == CHUNKS:
        lines += ["```python", f"enc = tok(text, max_length={reading.max_length}, "
                  f"stride={reading.stride}, truncation=True, return_overflowing_tokens=True, "
                  'padding=True, return_tensors="pt"); enc.pop("overflow_to_sample_mapping")',
                  "probs = model(**enc).logits.mean(0).softmax(-1)  # the windows' mean logits",
                  "```"]  # fmt: skip
    else:
        lines += ["```python", f"enc = tok(text, max_length={reading.max_length}, "
                  'truncation=True, return_tensors="pt")',
                  "probs = model(**enc).logits.softmax(-1)", "```"]  # fmt: skip
    if reading.mode == HEAD_TAIL:
        lines.append("(newsclf reads the first quarter and the last three quarters of a long "
                     "text's window: `newsclf.reading`.)")  # fmt: skip
    return "\n".join(lines)


def _results(c: CardContent) -> str | None:
    if not c.metrics:
        return None
    m = c.metrics
    rows = [
        f"| {n} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']:,} |"
        for n, r in m["per_class"].items()
    ]
    return "\n".join([
        "## Test results",
        "",
        f"{m['num_samples']:,} test texts: {_headline(c)}.",
        "",
        "| class | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
    ])  # fmt: skip


def _calibration(c: CardContent) -> str:
    info = c.calibration
    if not info:
        return (
            "## Calibration\n\nNone: the probabilities are the model's raw softmax (or "
            "sigmoid) outputs, which fine-tuned models tend to make over-confident."
        )
    if info.get("method") == "temperature":
        how = (
            f"A temperature T = {info['temperature']:.4f}, fitted on the "
            f"{info['fitted_on']['rows']:,} validation rows by minimising log loss, is folded "
            "into the output layer (weights and bias divided by T). It cannot change which "
            "class is most probable."
        )
    else:
        how = (
            "A scale and an offset per tag (Platt scaling), fitted on the "
            f"{info['fitted_on']['rows']:,} validation rows, are folded into the output layer; "
            "the thresholds were tuned afterwards, on the calibrated probabilities."
        )
    lines = ["## Calibration", "", how, "", "| split | ECE before | ECE after | log loss before "
             "| log loss after |", "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    effects = [("validation", info.get("validation"))]
    effects.append(("test", (c.metrics or {}).get("calibration")))
    for split, e in effects:
        if e:
            b, a = e["before"], e["after"]
            lines.append(f"| {split} | {b['ece']:.4f} | {a['ece']:.4f} | {b['log_loss']:.4f} "
                         f"| {a['log_loss']:.4f} |")  # fmt: skip
    lines += ["", "ECE: expected calibration error over 15 equal-width confidence bins."]
    return "\n".join(lines)


def _coverage(c: CardContent) -> str | None:
    table = (c.metrics or {}).get("accuracy_coverage")
    if not table:
        return None
    what = "subset accuracy" if _multi(c) else "accuracy"
    rows = [
        f"| {r['coverage']:.0%} | {r['answered']:,} | {r['accuracy']:.2%} | "
        f"{r['min_confidence']:.3f} |"
        for r in table
        if r["answered"]
    ]
    return "\n".join([
        "## Answering only when sure",
        "",
        f"Test {what} when the model answers only its most confident texts, and the "
        "`--min-confidence` that does it (`newsclf predict/serve --min-confidence P`, "
        "`Classifier.predict(texts, min_confidence=P)`):",
        "",
        "| answered | texts | " + what + " | min confidence |",
        "| ---: | ---: | ---: | ---: |",
        *rows,
    ])  # fmt: skip


def _thresholds(c: CardContent) -> str | None:
    t = c.thresholds
    if not t:
        return None
    rows = [f"| {name} | {value:.2f} |" for name, value in t["thresholds"].items()]
    return "\n".join([
        "## Decision thresholds",
        "",
        "Each tag gets its own sigmoid probability; a tag applies when its probability reaches "
        f"its threshold below ({threshold_text(t['thresholds'])}). They were tuned on the "
        f"validation split ({t['mode']}, by validation {METRIC_NAMES[t['metric']]}) and are "
        f"also in `config.json` under `{THRESHOLDS_KEY}`.",
        "",
        "| class | threshold |",
        "| --- | ---: |",
        *rows,
    ])  # fmt: skip


def _limitations(c: CardContent) -> str:
    return "\n".join([
        "## Limitations",
        "",
        f"- It knows only the {len(c.data_summary['label_names'])} "
        f"{'tags' if _multi(c) else 'classes'} above and always answers with them; a text "
        "about something else still gets one (use `--min-confidence` to abstain when unsure).",
        "- Scores hold for texts like its training data; other sources, periods or styles "
        "usually score lower, and the calibration was fitted on the same distribution.",
        f"- {(_reading(c) or Reading()).describe().capitalize()}: words past what it reads "
        "do not count.",
    ])  # fmt: skip


def _usage(c: CardContent) -> str:
    top_k = ", top_k=None" if _multi(c) else ""
    return f"""## How to use it

With newsclf (`pip install newsclf`):

```bash
newsclf predict THIS_DIR "Stocks rally as the central bank holds rates"
newsclf predict --min-confidence 0.8 THIS_DIR "some text"   # (not sure) below 80%
newsclf serve THIS_DIR --api-key "$KEY"
```

```python
from newsclf import Classifier
clf = Classifier.from_pretrained("THIS_DIR")
clf.predict(["some text"], min_confidence=0.8)
```

With plain transformers (the same probabilities: the calibration is in the weights):

```python
from transformers import pipeline
clf = pipeline("text-classification", model="THIS_DIR"{top_k})
clf("some text")
```"""


SECTIONS = (
    _summary,
    _data,
    _recipe,
    _long_texts,
    _results,
    _calibration,
    _coverage,
    _thresholds,
    _limitations,
    _usage,
)
