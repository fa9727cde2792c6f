"""The Hugging Face Hub, reached only when a Hub id is given: fail in seconds when it cannot be.

Models and datasets named by a Hub id (`distilbert-base-uncased`, `fancyzhx/ag_news`) load
through transformers and datasets; offline, they fail with one line naming a local alternative.
"""

from __future__ import annotations

import os
import socket

from newsclf.errors import HubUnreachableError


def ensure_hub_reachable(what: str, alternatives: str) -> None:
    """Fail in seconds, not minutes of retries, when the Hub cannot be reached."""
    hint = f"Use a local alternative: {alternatives}."
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise HubUnreachableError(f"Cannot fetch {what}: HF_HUB_OFFLINE is set. {hint}")
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=3).close()
    except OSError as err:
        raise HubUnreachableError(
            f"Cannot fetch {what}: {endpoint.hostname} is unreachable ({err}). {hint}"
        ) from None


def in_hub_cache(model_id: str) -> bool:
    """True when a model's config is already in the local Hub cache (it then loads offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:
        return False
