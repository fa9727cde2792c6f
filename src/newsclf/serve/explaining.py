"""POST /explain: a score per word for one text (`Classifier.explain`), asked for by the page's
Explain button. It runs outside the dynamic batcher, one explanation at a time in a worker
thread, so /predict's batches keep flowing while it works (an explanation costs tens of
forward and backward passes: docs/explain.md)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from newsclf.errors import InputError
from newsclf.serve.schema import RequestProblem, check_limits

if TYPE_CHECKING:
    from newsclf.serve.options import ServeOptions


class ExplainRequest(BaseModel):
    text: str = Field(description="The text to explain.")
    label: str | None = Field(None, description="Explain this class (default: the predicted).")


class WordScore(BaseModel):
    word: str
    score: float


class ExplanationOut(BaseModel):
    text: str
    label: str = Field(description="The class explained.")
    probability: float = Field(description="The model's probability of that class.")
    method: str = Field(description="'gradients' (PyTorch) or 'occlusion' (ONNX export).")
    truncated: bool = Field(description="Words past the model's max length were not read.")
    words: list[WordScore] = Field(
        description="Every word read, in text order; positive scores push towards the class. "
        "Absolute scores sum to 1."
    )


def add_explain_route(app: Any, slot: Any, opts: ServeOptions) -> None:
    """`slot`: the app's ModelSlot (`newsclf.serve.app`, which imports this module)."""
    one_at_a_time = asyncio.Semaphore(1)

    @app.post(
        "/explain",
        summary="Which words drove the prediction of one text",
        responses={200: {"model": ExplanationOut}, 413: {}, 422: {}, 503: {}},
    )
    async def explain(request: ExplainRequest) -> Any:
        clf = slot.classifier
        if clf is None:
            return slot.not_ready()
        try:
            check_limits([request.text], 1, opts.max_chars)
        except RequestProblem as problem:
            return JSONResponse({"detail": str(problem)}, problem.status)
        async with one_at_a_time:
            try:
                (answer,) = await asyncio.to_thread(clf.explain, request.text, request.label)
            except InputError as err:
                return JSONResponse({"detail": str(err)}, 422)
        return JSONResponse(answer.to_dict())
