"""Serving over HTTP: the FastAPI app (`app`), its settings (`options`), request and response
shapes (`schema`), dynamic batching (`batcher`), Prometheus metrics (`metrics`) and the ASGI
guard (`middleware`). FastAPI is imported only under this package.

`create_app` and `serve` load FastAPI when first asked for, so the CLI can import
`ServeOptions` (to build its flags) and keep `--help` instant.
"""

from typing import Any

from newsclf.serve.options import ServeOptions

__all__ = ["ServeOptions", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "serve"):
        from newsclf.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'newsclf.serve' has no attribute {name!r}")
