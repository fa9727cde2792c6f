"""newsclf: fine-tune transformer encoders for text classification, AG News out of the box.

    from newsclf import TrainConfig, train, Classifier
    result = train(TrainConfig(name="demo"))
    Classifier.from_pretrained(result.run_dir / "best_model").predict(["Stocks rally"])

Importing newsclf is cheap: torch and transformers load when a function first needs them.
The packages, what each owns and which way imports point: docs/architecture.md.
"""

from newsclf.config import TrainConfig
from newsclf.data import LoadedData, load_data
from newsclf.errors import (
    ConfigError,
    DataError,
    InputError,
    ModelError,
    NewsclfError,
    OutputError,
    RunExistsError,
    TrainingError,
)
from newsclf.evaluation import compute_metrics, evaluate
from newsclf.export import export
from newsclf.inference import Classifier, Inference, Prediction, predict_file
from newsclf.texts import check_texts
from newsclf.training import RunResult, calibrate_run, distill, fit, resume, train

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "ConfigError",
    "DataError",
    "Inference",
    "InputError",
    "LoadedData",
    "ModelError",
    "NewsclfError",
    "OutputError",
    "Prediction",
    "RunExistsError",
    "RunResult",
    "TrainConfig",
    "TrainingError",
    "calibrate_run",
    "check_texts",
    "compute_metrics",
    "distill",
    "evaluate",
    "export",
    "fit",
    "load_data",
    "predict_file",
    "resume",
    "train",
]
