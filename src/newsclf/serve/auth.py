"""`newsclf serve --api-key KEY`: every request but the open paths must carry
`Authorization: Bearer KEY`, else 401 with one line (docs/serving.md).

Open: GET /health (for load balancers and orchestrators) and GET / (a static page that holds no
model data; it asks for the key and sends it with each request). The key is compared in
constant time (`hmac.compare_digest`) and never written anywhere: not in logs, metrics, errors
or the page.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from typing import Any

OPEN_PATHS = frozenset({"/health", "/"})
API_KEY_ENV = "NEWSCLF_API_KEY"
UNAUTHORIZED = (
    "missing or wrong API key: send the header 'Authorization: Bearer <key>' "
    "(the key the server was started with)"
)


class RequireKey:
    """ASGI middleware: 401 unless the request's bearer token equals the key."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self.expected = api_key.encode("utf-8")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": UNAUTHORIZED}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"www-authenticate", b'Bearer realm="newsclf"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: dict) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return hmac.compare_digest(token.strip(), self.expected)
        return False


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning for a server other machines can reach without a key, else None."""
    if api_key or is_loopback(host):
        return None
    return (
        f"serving on {host} without an API key: anyone who can reach this port can use the "
        f"model and read /metrics. Pass --api-key (or set {API_KEY_ENV}), and put a TLS proxy "
        "in front: the key travels in clear over plain HTTP."
    )
