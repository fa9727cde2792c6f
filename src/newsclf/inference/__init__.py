"""Inference: the Classifier (`classifier`) over a backend (`backend`: PyTorch in
`torch_backend`, ONNX Runtime in `onnx_backend`), scoring shared out over processes
(`sharded`), and classifying the texts of a file (`files`).

Nothing here imports training: a saved model is all inference needs.
"""

from newsclf.inference.backend import Backend
from newsclf.inference.classifier import Classifier, Inference, Prediction, softmax
from newsclf.inference.files import FilePredictions, predict_file, read_texts
from newsclf.inference.sharded import ShardedInference

__all__ = [
    "Backend",
    "Classifier",
    "FilePredictions",
    "Inference",
    "Prediction",
    "ShardedInference",
    "predict_file",
    "read_texts",
    "softmax",
]
