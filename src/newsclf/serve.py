"""HTTP serving: a FastAPI app around a Classifier.

    newsclf serve runs/demo/best_model --port 8000
    curl -s localhost:8000/predict -H 'content-type: application/json' \
         -d '{"texts": ["Federer wins his fifth Wimbledon title"]}'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

# FastAPI reads the request model from the route's annotations, so it must live at module level;
# this module is imported only by `newsclf serve` and by users who serve.
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from newsclf.predict import Classifier

MAX_TEXTS = 256  # per request: keeps one request from holding the model for minutes


class PredictRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


def create_app(classifier: Classifier, model_dir: str | Path = "") -> Any:
    """The app: GET /health, GET /labels, POST /predict {"texts": [...]}."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="newsclf", description=f"Text classifier served from {model_dir}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": str(model_dir), "labels": classifier.label_names}

    @app.get("/labels")
    def labels() -> list[str]:
        return classifier.label_names

    @app.post("/predict")
    def predict(request: PredictRequest) -> list[dict[str, Any]]:
        if any(not t.strip() for t in request.texts):
            raise HTTPException(422, "texts must be non-empty strings (got an empty or blank one)")
        preds = classifier.predict(request.texts)
        return [{"text": t, **p.to_dict()} for t, p in zip(request.texts, preds, strict=True)]

    return app


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load the model once and serve it until interrupted."""
    import uvicorn

    from newsclf.predict import Classifier

    app = create_app(Classifier.from_pretrained(model_dir), model_dir)
    uvicorn.run(app, host=host, port=port)
