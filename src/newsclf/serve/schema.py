"""The request and response shapes of `POST /predict`, and the checks on what a request holds.

Three request shapes are accepted, so clients written for other servers work unchanged:
  {"texts": ["...", ...]}  -> [{"label", "score", "probabilities"}, ...] in request order
  {"text": "..."}          -> {"label", "score", "probabilities"}
  {"inputs": "..."}        -> [{"label", "score"}, ...] every class, highest score first
  {"inputs": ["...", ...]} -> one such list per input  (text-embeddings-inference's /predict)
A multi-label model's answers also hold "labels": every class at or above its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# FastAPI reads request models from the route's annotations, so they must live at module level;
# this module is imported only by the server.
from pydantic import BaseModel, Field

from newsclf.errors import InputError
from newsclf.reading import CHUNKS
from newsclf.texts import check_texts

if TYPE_CHECKING:
    from newsclf.inference import Classifier, Prediction


class PredictRequest(BaseModel):
    texts: list[str] | None = Field(None, description="Texts to classify, answered in order.")
    text: str | None = Field(None, description="One text; the answer is one object.")
    inputs: str | list[str | list[str]] | None = Field(
        None,
        description="text-embeddings-inference's shape: a string, a list of strings, or a "
        "list of one-string lists. Sentence pairs are not supported.",
    )
    return_text: bool = Field(False, description="Echo each text in its answer.")
    raw_scores: bool = Field(
        False, description="With `inputs`: logits instead of probabilities, as in TEI."
    )
    truncate: bool | None = Field(
        None, description="Accepted for TEI clients; a text longer than the model's maximum "
        "length is always read as the model was trained to read it (see /health: reading).",
    )  # fmt: skip


class LabelScore(BaseModel):
    label: str
    score: float


class PredictionOut(BaseModel):
    label: str | None = Field(
        description="The most probable class; null when the answer abstained."
    )
    score: float = Field(description="Its probability.")
    probabilities: dict[str, float] = Field(
        description="Every class's probability: softmax, or a sigmoid per class for a "
        "multi-label model."
    )
    labels: list[str] | None = Field(
        None, description="Multi-label models: every class at or above its threshold."
    )
    abstained: bool | None = Field(
        None,
        description="With --min-confidence: true when the answer was below it (no label).",
    )
    text: str | None = None


class RequestProblem(ValueError):
    """A request the server will not run: `status` is 413 (too large) or 422 (malformed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Parsed:
    texts: list[str]
    shape: str  # "texts" | "text" | "inputs" | "inputs-batch"


def parse_request(req: PredictRequest, max_texts: int, max_chars: int) -> Parsed:
    """The texts of a request, or a RequestProblem saying what is wrong and how to fix it."""
    given = [name for name in ("texts", "text", "inputs") if getattr(req, name) is not None]
    if len(given) != 1:
        raise RequestProblem(
            422,
            f"send exactly one of 'texts' (a list), 'text' or 'inputs'; got {given or 'none'}. "
            'Example: {"texts": ["Stocks rally on earnings"]}',
        )
    parsed = _texts_of(req, given[0])
    check_limits(parsed.texts, max_texts, max_chars)
    try:
        check_texts(parsed.texts)  # the rule every command follows, numbering texts from 1
    except InputError as err:
        raise RequestProblem(422, str(err)) from None
    return parsed


def _texts_of(req: PredictRequest, name: str) -> Parsed:
    if name == "texts":
        return Parsed(list(req.texts or []), "texts")
    if name == "text":
        return Parsed([req.text or ""], "text")
    if isinstance(req.inputs, str):
        return Parsed([req.inputs], "inputs")
    texts = []
    for item in req.inputs or []:
        if isinstance(item, list):
            if len(item) != 1:
                raise RequestProblem(
                    422,
                    f"each list in 'inputs' must hold one text; got {len(item)} "
                    "(sentence pairs are not supported by a single-text classifier)",
                )
            item = item[0]
        texts.append(item)
    return Parsed(texts, "inputs-batch")


def check_limits(texts: list[str], max_texts: int, max_chars: int) -> None:
    """The server's own limits: texts per request and characters per text (413 beyond)."""
    if not texts:
        raise RequestProblem(422, "no texts to classify: the list is empty. Send at least one.")
    if len(texts) > max_texts:
        raise RequestProblem(
            413,
            f"{len(texts)} texts in one request; the limit is {max_texts}. "
            "Split them over several requests.",
        )
    for i, text in enumerate(texts, 1):
        if len(text) > max_chars:
            raise RequestProblem(
                413,
                f"text {i} of {len(texts)} has {len(text):,} characters; the limit is "
                f"{max_chars:,}. Send a shorter text, or start the server with a higher "
                "--max-chars.",
            )


def reads_in_windows(classifier: Classifier) -> bool:
    """Whether a text may take several passes (long_texts chunks): only then are a request's
    windows counted. Otherwise a text is one window, and max_texts already bounds those."""
    return classifier.backend.reader.reading.mode == CHUNKS


def check_windows(classifier: Classifier, texts: list[str], max_windows: int) -> None:
    """A model that reads long texts in windows (long_texts chunks) runs one pass per window:
    a request of more than `max_windows` windows is refused (413) before it is queued."""
    if not reads_in_windows(classifier):
        return
    reader = classifier.backend.reader
    windows = reader.windows_needed(texts)
    if windows > max_windows:
        raise RequestProblem(
            413,
            f"the {len(texts)} texts of this request are read in {windows:,} windows of "
            f"{reader.reading.max_length} tokens; the limit is {max_windows:,} per request. "
            "Send fewer or shorter texts per request, or start the server with a higher "
            "--max-windows.",
        )


def format_answer(
    parsed: Parsed,
    rows: list[Any],
    classifier: Classifier,
    return_text: bool,
    raw_scores: bool,
    min_confidence: float | None = None,
) -> Any:
    """The JSON body for `rows` of (probabilities, logits), in the shape the request used.
    Below `min_confidence`, an answer abstains (`label` null, `abstained` true); the ranked
    `inputs` shape (TEI's) lists scores only and is the same either way."""
    if parsed.shape.startswith("inputs"):
        labels = classifier.label_names
        ranked = [_ranked(logits if raw_scores else probs, labels) for probs, logits in rows]
        return ranked[0] if parsed.shape == "inputs" else ranked
    answers = [
        _prediction(classifier.prediction(probs, min_confidence), text if return_text else None)
        for (probs, _), text in zip(rows, parsed.texts, strict=True)
    ]
    return answers[0] if parsed.shape == "text" else answers


def _prediction(prediction: Prediction, text: str | None) -> dict[str, Any]:
    out = prediction.to_dict()
    if text is not None:
        out["text"] = text
    return out


def _ranked(scores: Any, labels: list[str]) -> list[dict[str, Any]]:
    order = sorted(range(len(labels)), key=lambda i: -float(scores[i]))
    return [{"label": labels[i], "score": float(scores[i])} for i in order]
