"""`newsclf serve --api-key`: 401 or 200 on each endpoint, the key never echoed anywhere, and
answers below --min-confidence abstain. Over real HTTP on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from newsclf import Classifier
from newsclf.errors import ConfigError
from newsclf.serve.app import create_app
from newsclf.serve.auth import exposure_warning, is_loopback
from newsclf.serve.options import ServeOptions
from serve_helpers import AG_NAMES, PROBE_TEXTS, LiveServer, build_spread_model

KEY = "k3y-Only-The-Owner-Knows-7f3a"
PROTECTED = [
    ("POST", "/predict", {"texts": ["Stocks rally"]}),
    ("GET", "/labels", None),
    ("GET", "/metrics", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
]
OPEN = ["/health", "/"]


@pytest.fixture(scope="module")
def spread_dir(tiny_bert_dir, tmp_path_factory):
    return build_spread_model(tiny_bert_dir, tmp_path_factory.mktemp("spread"))


def _app(model_dir, **options):
    clf = Classifier.from_pretrained(model_dir, precision="fp32")
    return create_app(clf, model_dir, ServeOptions(precision="fp32", **options))


@pytest.fixture(scope="module")
def keyed(spread_dir):
    with LiveServer(_app(spread_dir, api_key=KEY)) as url:
        yield url


def _call(url: str, method: str, path: str, body, headers=None) -> httpx.Response:
    return httpx.request(method, url + path, json=body, headers=headers or {}, timeout=30)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_each_protected_endpoint_is_401_without_the_key_and_200_with_it(keyed, method, path, body):
    for headers in (
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
    ):
        refused = _call(keyed, method, path, body, headers)
        assert refused.status_code == 401, headers
        detail = refused.json()["detail"]
        assert "Authorization: Bearer <key>" in detail and "\n" not in detail
        assert KEY not in refused.text and refused.headers["www-authenticate"].startswith("Bearer")
    ok = _call(keyed, method, path, body, {"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200


@pytest.mark.parametrize("path", OPEN)
def test_health_and_the_page_stay_open(keyed, path):
    response = httpx.get(keyed + path)
    assert response.status_code == 200 and KEY not in response.text
    if path == "/health":
        assert response.json()["api_key_required"] is True
    else:  # the page asks for the key and sends it as a bearer token
        assert 'id="key"' in response.text and '"Bearer " + key' in response.text


def test_the_key_never_reaches_metrics_or_the_schema(keyed):
    good = {"Authorization": f"Bearer {KEY}"}
    httpx.post(keyed + "/predict", json={"texts": ["x"]}, headers={"Authorization": "Bearer no"})
    metrics = httpx.get(keyed + "/metrics", headers=good).text
    assert 'path="/predict",status="401"' in metrics and KEY not in metrics
    assert KEY not in httpx.get(keyed + "/openapi.json", headers=good).text
    assert KEY not in repr(ServeOptions(api_key=KEY))


def test_no_key_means_no_401(spread_dir):
    with LiveServer(_app(spread_dir)) as url:
        assert httpx.get(url + "/labels").status_code == 200
        assert httpx.get(url + "/health").json()["api_key_required"] is False


def test_a_blank_key_is_refused():
    with pytest.raises(ConfigError, match="non-blank key"):
        ServeOptions(api_key="  ")


def test_binding_beyond_loopback_without_a_key_warns():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("myhost.example")
    warning = exposure_warning("0.0.0.0", None)
    assert "without an API key" in warning and "--api-key" in warning and "TLS" in warning
    assert exposure_warning("0.0.0.0", KEY) is None
    assert exposure_warning("127.0.0.1", None) is None


def test_the_server_takes_the_key_from_the_environment_and_never_logs_it(spread_dir):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NEWSCLF_API_KEY": KEY}
    cmd = [sys.executable, "-m", "newsclf", "serve", str(spread_dir), "--port", str(port),
           "--precision", "fp32"]  # fmt: skip
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "the server exited"
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert httpx.get(url + "/labels").status_code == 401
        wrong = {"Authorization": f"Bearer {KEY[::-1]}"}
        assert httpx.get(url + "/labels", headers=wrong).status_code == 401
        good = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(url + "/labels", headers=good).json() == AG_NAMES
        assert httpx.get(url + f"/no-such-page?key={KEY[:4]}").status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=60)[0].decode()
    assert '"GET /labels HTTP/1.1" 401' in output  # the access log did run
    assert KEY not in output and KEY[::-1] not in output


def test_answers_below_min_confidence_abstain_with_their_probabilities(spread_dir):
    with LiveServer(_app(spread_dir, min_confidence=1.0)) as url:
        rows = httpx.post(url + "/predict", json={"texts": PROBE_TEXTS[:3]}).json()
        assert httpx.get(url + "/health").json()["min_confidence"] == 1.0
    for row in rows:
        assert row["label"] is None and row["abstained"] is True
        assert list(row["probabilities"]) == AG_NAMES
    with LiveServer(_app(spread_dir, min_confidence=0.0)) as url:
        rows = httpx.post(url + "/predict", json={"texts": PROBE_TEXTS[:3]}).json()
    assert all(row["label"] in AG_NAMES and row["abstained"] is False for row in rows)
