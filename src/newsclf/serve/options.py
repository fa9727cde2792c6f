"""The server's settings: how it batches and what it refuses. Checked once, here.

Kept apart from serve.py (and free of heavy imports) so the CLI can build its flags from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsclf.errors import ConfigError
from newsclf.inference.abstention import check_min_confidence
from newsclf.precision import SERVE_PRECISIONS, check_precision


def _opt(default: object, help_text: str) -> object:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class ServeOptions:
    max_batch_size: int = _opt(32, "texts per forward pass; 1 turns batching off")
    max_wait_ms: float = _opt(5.0, "how long a lone text waits for others to batch with")
    max_queue: int = _opt(1024, "texts waiting for the model before requests get 503")
    max_texts: int = _opt(256, "texts per request, else 413")
    max_chars: int = _opt(20_000, "characters per text, else 413")
    max_windows: int = _opt(
        1024, "windows per request for a model that reads long texts in chunks, else 413"
    )
    max_body_bytes: int = _opt(2 * 1024 * 1024, "request body size, else 413 before parsing")
    precision: str = _opt("auto", "auto: bf16 where the CPU has bf16 instructions, else fp32")
    min_confidence: float | None = _opt(
        None, "answer only when at least this sure (0 to 1); below it label null, abstained true"
    )
    # Never shown: repr=False keeps it out of any printed or logged options.
    api_key: str | None = field(
        default=None,
        repr=False,
        metadata={"help": "require 'Authorization: Bearer KEY' on every endpoint but /health "
                  "and the page (default: $NEWSCLF_API_KEY; none)"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_queue", "max_texts", "max_chars", "max_body_bytes",
                     "max_windows"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: expected a whole number >= 1.")
        if self.max_wait_ms < 0:
            raise ConfigError(
                f"max_wait_ms={self.max_wait_ms}: expected >= 0 (0 runs each batch at once)."
            )
        if self.max_queue < self.max_texts:
            raise ConfigError(
                f"max_queue={self.max_queue} is below max_texts={self.max_texts}: a full "
                "request could never be queued. Raise max_queue or lower max_texts."
            )
        check_precision(self.precision, SERVE_PRECISIONS)
        check_min_confidence(self.min_confidence)
        if self.api_key is not None and (not self.api_key.strip() or len(self.api_key) > 4096):
            raise ConfigError(
                "api_key: expected a non-blank key of at most 4096 characters (e.g. one from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
