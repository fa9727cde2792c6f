"""Training: a run from config to run directory (`run`), the loop (`loop`) over what `engine`
prepares, checkpoints and resume (`checkpoint`), the run's staging directory (`staging`),
loaders (`loaders`), the loss and optimizer (`optim`), guardrails, history and console output,
the model to fine-tune (`model`), the calibration folded into it (`calibrate`), the final
test (`evaluate_best`), and the student a finished run is distilled into (`student`).
"""

from newsclf.training.history import EpochRow, History
from newsclf.training.loop import fit
from newsclf.training.model import build_model, load_tokenizer, resolve_model
from newsclf.training.run import Hooks, RunResult, calibrate_run, distill, resume, train

__all__ = [
    "EpochRow",
    "History",
    "Hooks",
    "RunResult",
    "build_model",
    "calibrate_run",
    "distill",
    "fit",
    "load_tokenizer",
    "resolve_model",
    "resume",
    "train",
]
