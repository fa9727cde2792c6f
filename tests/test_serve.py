"""`newsclf serve`: every endpoint and every limit, over real HTTP on a free loopback port.

Answers are checked against plain transformers in fp32 on a tiny model whose answers differ
from text to text (serve_helpers.build_spread_model), never against what a model learned.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from newsclf import Classifier
from newsclf.serve.app import MAX_TEXTS, create_app
from newsclf.serve.options import ServeOptions
from serve_helpers import AG_NAMES, PROBE_TEXTS, LiveServer, build_spread_model, reference_logits

LIMITS = dict(max_texts=8, max_chars=300, max_body_bytes=4096, max_queue=256)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def spread_dir(tiny_bert_dir, tmp_path_factory):
    return build_spread_model(tiny_bert_dir, tmp_path_factory.mktemp("spread"))


@pytest.fixture(scope="module")
def reference(spread_dir) -> dict[str, np.ndarray]:
    """text -> fp32 logits from plain transformers."""
    return dict(zip(PROBE_TEXTS, reference_logits(spread_dir, PROBE_TEXTS), strict=True))


def make_app(model_dir, precision: str = "fp32", **options):
    clf = Classifier.from_pretrained(model_dir, precision=precision)
    settings = {"max_batch_size": 4, "max_wait_ms": 20, **LIMITS, **options}
    return create_app(clf, model_dir, ServeOptions(precision=precision, **settings))


@pytest.fixture(scope="module")
def live(spread_dir):
    app = make_app(spread_dir)
    with LiveServer(app) as url:
        yield url


def test_the_probe_texts_get_clearly_different_answers(reference):
    """Precondition of the order tests: a row given to the wrong text would be seen."""
    probs = softmax(np.array(list(reference.values())))
    gaps = [np.abs(a - b).max() for i, a in enumerate(probs) for b in probs[i + 1 :]]
    assert min(gaps) > 0.01
    assert len(set(probs.argmax(axis=1))) >= 3


def test_predict_answers_every_text_in_order_with_every_class(live, reference):
    texts = PROBE_TEXTS[:6]
    response = httpx.post(f"{live}/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body) == len(texts)
    for text, row in zip(texts, body, strict=True):
        want = softmax(reference[text])
        assert set(row) == {"label", "score", "probabilities"}  # no echo of the text
        assert list(row["probabilities"]) == AG_NAMES
        assert np.allclose(list(row["probabilities"].values()), want, atol=1e-4)
        assert row["label"] == AG_NAMES[int(want.argmax())]
        assert row["score"] == max(row["probabilities"].values())


def test_one_text_gets_one_object_and_the_text_only_when_asked(live, reference):
    text = PROBE_TEXTS[0]
    plain = httpx.post(f"{live}/predict", json={"text": text}).json()
    assert plain["label"] == AG_NAMES[int(reference[text].argmax())] and "text" not in plain
    echoed = httpx.post(f"{live}/predict", json={"texts": [text], "return_text": True}).json()
    assert echoed[0]["text"] == text


def test_text_embeddings_inference_shape(live, reference):
    text, other = PROBE_TEXTS[1], PROBE_TEXTS[2]
    single = httpx.post(f"{live}/predict", json={"inputs": text}).json()
    want = softmax(reference[text])
    assert [r["label"] for r in single] == [AG_NAMES[i] for i in np.argsort(-want)]
    assert np.allclose([r["score"] for r in single], np.sort(want)[::-1], atol=1e-4)
    assert set(single[0]) == {"label", "score"}
    for inputs in ([text, other], [[text], [other]]):
        batch = httpx.post(f"{live}/predict", json={"inputs": inputs}).json()
        assert [b[0]["label"] for b in batch] == [single[0]["label"], AG_NAMES[
            int(reference[other].argmax())]]  # fmt: skip
    raw = httpx.post(f"{live}/predict", json={"inputs": text, "raw_scores": True}).json()
    assert np.allclose(sorted(r["score"] for r in raw), sorted(reference[text]), atol=1e-3)


async def _many_callers(url: str, requests: list[list[str]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        return await asyncio.gather(
            *(client.post("/predict", json={"texts": texts}) for texts in requests)
        )


def test_concurrent_callers_each_get_their_own_rows_in_order(live, reference):
    rng = random.Random(0)
    requests = [rng.sample(PROBE_TEXTS, rng.randint(1, 5)) for _ in range(40)]
    responses = asyncio.run(_many_callers(live, requests))
    for texts, response in zip(requests, responses, strict=True):
        assert response.status_code == 200, response.text
        got = [list(row["probabilities"].values()) for row in response.json()]
        want = [softmax(reference[t]) for t in texts]
        assert np.allclose(got, want, atol=1e-4)
    metrics = httpx.get(f"{live}/metrics").text
    assert "newsclf_batch_size_count" in metrics


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"texts": ["x"] * (LIMITS["max_texts"] + 1)}, 413, "the limit is 8"),
        ({"texts": ["y" * (LIMITS["max_chars"] + 1)]}, 413, "the limit is 300"),
        ({"inputs": ["ok", "z" * (LIMITS["max_chars"] + 1)]}, 413, "text 2 of 2 has 301"),
        ({"texts": ["fine", "  "]}, 422, "text 2 of 2 is blank"),
        ({"text": ""}, 422, "text 1 of 1 is blank"),
        ({"texts": []}, 422, "the list is empty"),
        ({"texts": ["a"], "text": "b"}, 422, "exactly one of"),
        ({}, 422, "exactly one of"),
        ({"inputs": [["a", "b"]]}, 422, "sentence pairs"),
    ],
)
def test_requests_over_a_limit_or_malformed_get_a_clear_4xx(live, payload, status, message):
    response = httpx.post(f"{live}/predict", json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    "content", [b"[1, 2", b'{"texts": 5}', b"\xff\xfe", b'{"texts": [1, 2]}', b'"text"']
)
def test_bodies_that_are_not_the_schema_are_422(live, content):
    response = httpx.post(
        f"{live}/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_a_body_over_the_byte_limit_is_refused_before_it_is_parsed(live):
    # Not even JSON: a 422 would mean it had been parsed.
    big = b"!" * (LIMITS["max_body_bytes"] + 1)
    response = httpx.post(f"{live}/predict", content=big)
    assert response.status_code == 413
    assert "the limit is 4,096 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the server counts as it reads
        for _ in range(10):
            yield b"!" * 1000

    response = httpx.post(f"{live}/predict", content=chunks())
    assert response.status_code == 413
    ok = httpx.post(f"{live}/predict", json={"texts": PROBE_TEXTS[:2]})
    assert ok.status_code == 200


def test_health_labels_metrics_and_docs(live, spread_dir):
    health = httpx.get(f"{live}/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["ready"] is True
    assert body["labels"] == AG_NAMES and body["model"] == str(spread_dir)
    assert body["device"] == "cpu" and body["precision"] == "fp32" and body["version"]
    assert httpx.get(f"{live}/labels").json() == AG_NAMES

    httpx.post(f"{live}/predict", json={"texts": []})
    metrics = httpx.get(f"{live}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in (
        'newsclf_requests_total{path="/predict",status="200"}',
        'newsclf_request_errors_total{path="/predict",status="422"}',
        'newsclf_request_duration_seconds_bucket{le="0.005",path="/predict"}',
        "newsclf_batch_size_bucket",
        "newsclf_queue_depth 0.0",
        "newsclf_model_ready 1.0",
    ):
        assert name in metrics.text, name

    docs = httpx.get(f"{live}/docs").text
    assert "swagger-ui" in docs and "cdn" not in docs and "https://" not in docs
    schema = httpx.get(f"{live}/openapi.json").json()
    assert {"/predict", "/health", "/labels", "/metrics"} <= set(schema["paths"])
    assert httpx.get(f"{live}/").headers["content-type"].startswith("text/html")


def test_a_full_queue_answers_503_with_retry_after(spread_dir):
    app = make_app(spread_dir, max_batch_size=2, max_wait_ms=0, max_queue=8)
    batcher, gate = app.state.batcher, threading.Event()
    run = batcher.run_batch
    batcher.run_batch = lambda texts: gate.wait(30) and run(texts)
    with LiveServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        pool = [threading.Thread(target=client.post, args=("/predict",), kwargs={"json": {
            "texts": PROBE_TEXTS[:n]}}) for n in (2, 8)]  # fmt: skip
        for thread in pool:
            thread.start()
            _wait_until(lambda: batcher.depth > 0 or batcher._thread is not None)
        _wait_until(lambda: batcher.depth == 8)  # 2 texts running, 8 waiting: the queue is full
        response = client.post("/predict", json={"texts": ["one more"]})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "8 texts are already waiting (limit 8)" in response.json()["detail"]
        gate.set()
        for thread in pool:
            thread.join(30)
        assert client.post("/predict", json={"texts": ["one more"]}).status_code == 200


def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_health_is_503_until_the_model_is_loaded(spread_dir):
    app = create_app(None, spread_dir, ServeOptions(precision="fp32"))
    slot, loaded = app.state.model, threading.Event()
    real_load = slot.load
    slot.load = lambda: loaded.wait(30) and real_load()
    with LiveServer(app) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        predict = httpx.post(f"{url}/predict", json={"texts": ["Stocks rally"]})
        assert predict.status_code == 503 and predict.headers["retry-after"] == "1"
        assert "newsclf_model_ready 0.0" in httpx.get(f"{url}/metrics").text
        loaded.set()
        _wait_until(lambda: httpx.get(f"{url}/health").status_code == 200)
        assert httpx.get(f"{url}/health").json()["ready"] is True
        assert httpx.post(f"{url}/predict", json={"texts": ["Stocks rally"]}).status_code == 200


def test_bf16_serving_agrees_with_fp32_transformers(spread_dir, reference):
    """bf16 keeps ~3 significant digits: probabilities within 0.05, and the same label
    wherever fp32's top two classes are more than 0.1 apart."""
    with LiveServer(make_app(spread_dir, precision="bf16")) as url:
        assert httpx.get(f"{url}/health").json()["precision"] == "bf16"
        rows = httpx.post(f"{url}/predict", json={"texts": PROBE_TEXTS[:8]}).json()
    clear = 0
    for text, row in zip(PROBE_TEXTS[:8], rows, strict=True):
        want = softmax(reference[text])
        assert np.abs(np.array(list(row["probabilities"].values())) - want).max() < 0.05
        top2 = np.sort(want)[-2:]
        if top2[1] - top2[0] > 0.1:
            clear += 1
            assert row["label"] == AG_NAMES[int(want.argmax())]
    assert clear >= 3  # the label check above did run


def test_create_app_still_works_with_a_test_client(spread_dir):
    """Other tests (and users) drive the app in-process, without running its startup."""
    http = TestClient(create_app(Classifier.from_pretrained(spread_dir), spread_dir))
    body = http.post("/predict", json={"texts": PROBE_TEXTS[:2]}).json()
    assert [row["label"] for row in body] == [
        p.label for p in Classifier.from_pretrained(spread_dir).predict(PROBE_TEXTS[:2])
    ]
    assert http.post("/predict", json={"texts": ["x"] * (MAX_TEXTS + 1)}).status_code == 413
    assert http.post("/predict", json={"texts": [" "]}).status_code == 422


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_newsclf_serve_drains_requests_in_flight_on_sigterm(spread_dir):
    port = _free_port()
    cmd = [sys.executable, "-m", "newsclf", "serve", str(spread_dir), "--port", str(port),
           "--max-wait-ms", "1500", "--precision", "fp32", "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _ready(url, server), timeout=120)
        results: list[int] = []

        def call(text: str) -> None:
            results.append(httpx.post(f"{url}/predict", json={"text": text}, timeout=60)
                           .status_code)  # fmt: skip

        callers = [threading.Thread(target=call, args=(t,)) for t in PROBE_TEXTS[:3]]
        for caller in callers:
            caller.start()
        # The three wait in the queue for up to 1.5 s for a fuller batch; stop the server now.
        _wait_until(lambda: "newsclf_queue_depth 3.0" in httpx.get(f"{url}/metrics").text)
        server.send_signal(signal.SIGTERM)
        for caller in callers:
            caller.join(60)
        assert results == [200, 200, 200]
        assert server.wait(timeout=60) == 0, server.stderr.read().decode()
        # The model's threads sleep between operations unless the environment chose.
        policy = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
        assert f"OMP_WAIT_POLICY={policy}" in server.stderr.read().decode()
    finally:
        if server.poll() is None:
            server.kill()


def _ready(url: str, server: subprocess.Popen) -> bool:
    assert server.poll() is None, server.stderr.read().decode()
    try:
        return httpx.get(f"{url}/health").status_code == 200
    except httpx.TransportError:
        return False


def test_newsclf_serve_refuses_a_directory_without_a_model(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-m", "newsclf", "serve", str(tmp_path), "--port", "9"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "not a complete model directory" in run.stderr
