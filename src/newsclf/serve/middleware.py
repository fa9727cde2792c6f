"""The ASGI guard in front of the app: the body-size limit, and one metrics sample per request.

A Content-Length over the limit is answered 413 before any of the body is read, and a chunked
body is cut off as soon as it passes the limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

from newsclf.serve.metrics import ServerMetrics


class BodyTooLargeError(HTTPException):
    """Raised while reading a body past the limit. An HTTPException, so that FastAPI's body
    parsing passes it on (it turns other errors into a 400) and it is answered 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_detail(f"more than {limit:,} bytes", limit))


class Guard:
    """ASGI middleware: the body-size limit, and one metrics sample per request.

    Paths are recorded only for known routes (else "other"), so a scan of random URLs cannot
    grow the metrics without bound.
    """

    def __init__(
        self, app: Any, metrics: ServerMetrics, max_body_bytes: int, known_paths: set[str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.known_paths = known_paths

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"] if scope["path"] in self.known_paths else "other"
        status = {"code": 500}

        async def send_counted(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await self._too_large(send_counted, f"{declared:,} bytes")
            else:
                await self.app(scope, self._limited(receive), send_counted)
        except BodyTooLargeError:
            await self._too_large(send_counted, f"more than {self.max_body_bytes:,} bytes")
        finally:
            self.metrics.observe_request(path, status["code"], time.perf_counter() - start)

    def _limited(self, receive: Callable) -> Callable:
        seen = 0

        async def receive_limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body_bytes:
                raise BodyTooLargeError(self.max_body_bytes)
            return message

        return receive_limited

    async def _too_large(self, send: Callable, received: str) -> None:
        body = json.dumps({"detail": _too_large_detail(received, self.max_body_bytes)}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _too_large_detail(received: str, limit: int) -> str:
    return (
        f"request body of {received}; the limit is {limit:,} bytes. "
        "Send fewer or shorter texts per request."
    )


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
