"""What the server counts: Prometheus metrics, served at GET /metrics. The requests are counted
by the ASGI guard (`newsclf.serve.middleware`), the batches by the dynamic batcher."""

from __future__ import annotations

from collections.abc import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """One registry per app, so several apps in one process (tests) keep separate counts."""

    def __init__(self, queue_depth: Callable[[], float], ready: Callable[[], float]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "newsclf_requests", "HTTP requests answered", ["path", "status"], registry=r
        )
        self.errors = Counter(
            "newsclf_request_errors", "Requests answered 4xx or 5xx", ["path", "status"], registry=r
        )
        self.latency = Histogram(
            "newsclf_request_duration_seconds", "Time to answer a request", ["path"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.texts = Counter("newsclf_texts", "Texts classified", registry=r)
        self.batch_size = Histogram(
            "newsclf_batch_size", "Texts per forward pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "newsclf_batch_duration_seconds", "Time of one forward pass (tokenizing included)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        Gauge("newsclf_queue_depth", "Texts waiting for a batch", registry=r).set_function(
            queue_depth
        )
        Gauge("newsclf_model_ready", "1 once the model is loaded", registry=r).set_function(ready)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.texts.inc(size)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        if status >= 400:
            self.errors.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
