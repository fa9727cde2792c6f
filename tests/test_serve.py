import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from newsclf import Classifier
from newsclf.serve import MAX_TEXTS, create_app


@pytest.fixture(scope="module")
def client(tiny_run):
    clf = Classifier.from_pretrained(tiny_run.run_dir / "best_model")
    return TestClient(create_app(clf, tiny_run.run_dir / "best_model")), clf


def test_predict_matches_the_python_api(client):
    http, clf = client
    texts = ["Federer wins his fifth Wimbledon title", "Oil prices climb"]
    response = http.post("/predict", json={"texts": texts})
    assert response.status_code == 200
    body = response.json()
    assert [row["label"] for row in body] == [p.label for p in clf.predict(texts)]
    assert set(body[0]["probabilities"]) == set(clf.label_names)
    assert http.get("/labels").json() == clf.label_names
    assert http.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"texts": []},
        {"texts": "not a list"},
        {"texts": ["  "]},
        {"texts": ["x"] * (MAX_TEXTS + 1)},
    ],
)
def test_bad_requests_are_422(client, payload):
    http, _ = client
    assert http.post("/predict", json=payload).status_code == 422


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_newsclf_serve_answers_over_real_http(tiny_run):
    port = _free_port()
    cmd = [sys.executable, "-m", "newsclf", "serve", str(tiny_run.run_dir), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/predict", json={"texts": ["Stocks rally"]}
                )
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.time() < deadline, "server did not start within 120 s"
                time.sleep(0.5)
        assert response.status_code == 200
        assert (
            response.json()[0]["label"] in Classifier.from_pretrained(tiny_run.run_dir).label_names
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
