"""Fuzz the server from its own OpenAPI schema: whatever a client sends, never a 5xx.

schemathesis generates requests from /openapi.json (valid ones and ones that break the schema)
and sends them through the whole ASGI app, body-size guard included. The example count is
fixed and the runs are derandomized, so the test takes the same few seconds on every run.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from newsclf import Classifier
from newsclf.serve.app import create_app
from newsclf.serve.options import ServeOptions
from serve_helpers import build_spread_model

EXAMPLES_PER_ENDPOINT = 40


# The schema does not depend on the model, so the app is built without one and the model is
# put in place by the fixture below, before the first request.
OPTIONS = ServeOptions(precision="fp32", max_texts=16, max_chars=500, max_body_bytes=8192)
APP = create_app(None, "", OPTIONS)
# Nothing to load at startup (schemathesis starts the app to read the schema): the fixture
# below sets the model.
APP.state.model.load = lambda: None
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Requests that follow the schema and requests that break it (wrong types, missing fields).
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode), deterministic=True, database="none"
)


@pytest.fixture(scope="module", autouse=True)
def loaded_model(tiny_bert_dir, tmp_path_factory):
    model_dir = build_spread_model(tiny_bert_dir, tmp_path_factory.mktemp("fuzz"))
    APP.state.model.classifier = Classifier.from_pretrained(model_dir, precision="fp32")
    yield
    APP.state.batcher.stop(30)
    # The fuzzing reached the model and the request checks alike. Which limits (413) the
    # generated bodies hit depends on the schemathesis/hypothesis versions: tests/test_serve.py
    # covers every limit with requests built for it.
    answered = APP.state.metrics.requests
    samples = answered.collect()[0].samples
    statuses = {s.labels["status"] for s in samples if s.name.endswith("_total") and s.value}
    assert {"200", "422"} <= statuses, statuses


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_ENDPOINT,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
