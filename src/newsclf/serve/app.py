"""HTTP serving: a FastAPI app around a Classifier, with dynamic batching, limits and metrics.

    newsclf serve runs/demo/best_model            # then open http://127.0.0.1:8000/
    curl -s 127.0.0.1:8000/predict -H 'content-type: application/json' \
         -d '{"texts": ["Federer wins his fifth Wimbledon title"]}'

Endpoints: GET / (a page to try the model), POST /predict, POST /explain (a score per word of
one text, the page's Explain button), GET /labels, GET /health,
GET /metrics (Prometheus), GET /docs (OpenAPI, served offline). docs/serving.md has the details.
With an API key (`--api-key`, or NEWSCLF_API_KEY) every endpoint but /health and the page asks
for `Authorization: Bearer KEY` (`newsclf.serve.auth`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

# FastAPI reads the routes' return annotations, so the response classes live at module level;
# this module is imported only to serve.
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline

from newsclf import __version__
from newsclf.errors import ModelError
from newsclf.inference import Classifier
from newsclf.model_dir import find_model_dir
from newsclf.serve.auth import API_KEY_ENV, RequireKey, exposure_warning
from newsclf.serve.batcher import BatcherStoppedError, DynamicBatcher, QueueFullError
from newsclf.serve.explaining import add_explain_route
from newsclf.serve.metrics import ServerMetrics
from newsclf.serve.middleware import Guard
from newsclf.serve.options import ServeOptions
from newsclf.serve.schema import (
    PredictionOut,
    PredictRequest,
    RequestProblem,
    check_windows,
    format_answer,
    parse_request,
    reads_in_windows,
)
from newsclf.serve.threads import WAIT_POLICY_ENV, sleep_between_operations

# uvicorn configures this logger's output; messages here then read like the server's own.
log = logging.getLogger("uvicorn.error")

MAX_TEXTS = ServeOptions().max_texts  # per request: one request cannot hold the model long


class ModelSlot:
    """The classifier, once loaded. The server answers (and /health says "loading") before."""

    def __init__(self, classifier: Classifier | None, model_dir: str | Path, precision: str):
        self.classifier = classifier
        self.model_dir = model_dir
        self.precision = precision
        self.error: str | None = None
        self.on_failure: Callable[[str], None] | None = None

    def load(self) -> None:
        try:
            self.classifier = Classifier.from_pretrained(self.model_dir, precision=self.precision)
            clf = self.classifier
            log.info("model loaded from %s (%s, %s): ready", self.model_dir, clf.device,
                     clf.precision)  # fmt: skip
        except Exception as err:  # reported by /health and ends `serve`
            self.error = f"{type(err).__name__}: {err}"
            log.error("could not load the model from %s: %s", self.model_dir, self.error)
            if self.on_failure is not None:
                self.on_failure(self.error)

    def not_ready(self) -> JSONResponse:
        """503 while the model loads (or after it failed to)."""
        state = "failed" if self.error else "loading"
        detail = f"the model {state}" + (f": {self.error}" if self.error else "; retry shortly")
        return JSONResponse({"detail": detail}, 503, headers={"Retry-After": "1"})

    def run_batch(self, texts: list[str]) -> list[tuple[Any, Any]]:
        """(probabilities, logits) per text: length-sorted sub-batches of the backend's online
        size, at the serving precision."""
        clf = self.classifier
        assert clf is not None, "batches are only queued once the model is loaded"
        inference = clf.infer(texts, batch_size=clf.backend.online_batch_size)
        return list(zip(inference.probabilities, inference.logits, strict=True))


def create_app(
    classifier: Classifier | None, model_dir: str | Path = "", options: ServeOptions | None = None
) -> Any:
    """The app. With `classifier=None` it loads the model from `model_dir` at startup."""
    opts = options or ServeOptions()
    slot = ModelSlot(classifier, model_dir, opts.precision)
    batcher = DynamicBatcher(slot.run_batch, opts.max_batch_size, opts.max_wait_ms, opts.max_queue)
    metrics = ServerMetrics(lambda: batcher.depth, lambda: float(slot.classifier is not None))
    batcher.on_batch = lambda stats: metrics.observe_batch(stats.size, stats.seconds)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        batcher.open()
        if slot.classifier is None:
            threading.Thread(target=slot.load, name="newsclf-load", daemon=True).start()
        yield
        # uvicorn has finished the in-flight requests by now; whatever is queued still runs.
        await asyncio.to_thread(batcher.stop)

    app = FastAPIOffline(
        title="newsclf",
        version=__version__,
        description=f"Text classifier served from `{model_dir}`. Try it at [/](/).",
        lifespan=lifespan,
    )
    app.state.model = slot
    app.state.batcher = batcher
    app.state.metrics = metrics
    _add_routes(app, slot, batcher, metrics, opts, __version__)
    known = {getattr(route, "path", "") for route in app.routes}
    if opts.api_key:  # added first, so it runs inside Guard: a 401 is counted like any answer
        app.add_middleware(RequireKey, api_key=opts.api_key)
    app.add_middleware(
        Guard, metrics=metrics, max_body_bytes=opts.max_body_bytes, known_paths=known
    )
    return app


def _add_routes(
    app: Any,
    slot: ModelSlot,
    batcher: DynamicBatcher,
    metrics: ServerMetrics,
    opts: ServeOptions,
    version: str,
) -> None:
    _add_info_routes(app, slot, metrics, opts, version)
    _add_predict_route(app, slot, batcher, opts)
    add_explain_route(app, slot, opts)


def _add_info_routes(
    app: Any, slot: ModelSlot, metrics: ServerMetrics, opts: ServeOptions, version: str
) -> None:
    """The page, /health, /labels and /metrics."""
    page = resources.files("newsclf").joinpath("templates/serve.html").read_text("utf-8")

    @app.get("/", include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health", summary="Ready once the model is loaded (503 before)")
    async def health() -> JSONResponse:
        clf = slot.classifier
        body: dict[str, Any] = {
            "status": "ok" if clf else ("failed" if slot.error else "loading"),
            "ready": clf is not None,
            "model": str(slot.model_dir),
            "version": version,
            "labels": clf.label_names if clf else None,
            "task": clf.task.task if clf else None,
            "device": clf.device if clf else None,
            "precision": clf.precision if clf else None,
            "reading": clf.reading.to_config() if clf else None,
            "max_batch_size": opts.max_batch_size,
            "min_confidence": opts.min_confidence,
            "api_key_required": bool(opts.api_key),
        }
        if clf and clf.multi_label:
            body["thresholds"] = dict(zip(clf.label_names, clf.task.thresholds, strict=True))
        if slot.error:
            body["error"] = slot.error
        return JSONResponse(body, 200 if clf else 503)

    @app.get("/labels", summary="The class names, in the model's order")
    async def labels() -> Any:
        return slot.classifier.label_names if slot.classifier else slot.not_ready()

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        content, media_type = metrics.render()
        return Response(content, media_type=media_type)


def _add_predict_route(
    app: Any, slot: ModelSlot, batcher: DynamicBatcher, opts: ServeOptions
) -> None:
    """POST /predict: the request checked, its texts queued for the batcher, the answer in the
    shape the request used."""

    @app.post(
        "/predict",
        summary="Classify texts",
        responses={200: {"model": list[PredictionOut]}, 413: {}, 503: {}},
    )
    async def predict(request: PredictRequest) -> Any:
        if slot.classifier is None:
            return slot.not_ready()
        try:
            parsed = parse_request(request, opts.max_texts, opts.max_chars)
            if reads_in_windows(slot.classifier):  # else no tokenizing, and no thread hop
                # Tokenizing a request's texts to count its windows is CPU work: off the loop.
                await asyncio.to_thread(
                    check_windows, slot.classifier, parsed.texts, opts.max_windows
                )
            future = batcher.submit(parsed.texts)
        except RequestProblem as problem:
            return JSONResponse({"detail": str(problem)}, problem.status)
        except (QueueFullError, BatcherStoppedError) as busy:
            return JSONResponse(
                {"detail": f"server busy: {busy}. Retry after a second."},
                503,
                headers={"Retry-After": "1"},
            )
        rows = await asyncio.wrap_future(future)
        answer = format_answer(
            parsed, rows, slot.classifier, request.return_text, request.raw_scores,
            opts.min_confidence,
        )  # fmt: skip
        return JSONResponse(answer)


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    options: ServeOptions | None = None,
    access_log: bool = True,
) -> None:
    """Serve a model until SIGINT/SIGTERM, which finish the requests in flight first.

    The port opens at once; /health answers 503 "loading" until the model is in memory.
    Without `options.api_key`, the key comes from $NEWSCLF_API_KEY when it is set; a server
    other machines can reach without a key gets a warning. The model's threads sleep rather
    than spin between operations unless $OMP_WAIT_POLICY says otherwise (`newsclf.serve.threads`).
    """
    import uvicorn

    find_model_dir(model_dir)  # a missing or incomplete model is refused before the port opens
    policy = sleep_between_operations()  # before torch loads, which reads it once
    options = options or ServeOptions()
    if options.api_key is None and os.environ.get(API_KEY_ENV):
        options = dataclasses.replace(options, api_key=os.environ[API_KEY_ENV])
    warning = exposure_warning(host, options.api_key)
    if warning:
        log.warning(warning)
    app = create_app(None, model_dir, options)
    config = uvicorn.Config(
        app, host=host, port=port, access_log=access_log, timeout_graceful_shutdown=30
    )
    server = uvicorn.Server(config)
    log.info("model threads between operations: %s=%s", WAIT_POLICY_ENV, policy)
    app.state.model.on_failure = lambda _err: setattr(server, "should_exit", True)
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that
        # would kill the process (exit 143) although every request was answered.
        signal.signal(signal.SIGTERM, lambda *_: log.info("stopped on SIGTERM"))
    server.run()
    if app.state.model.error:
        raise ModelError(f"could not load {model_dir}: {app.state.model.error}")
