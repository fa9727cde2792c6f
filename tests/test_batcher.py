"""The dynamic batcher on its own, with a stand-in model whose answer for each text is known."""

from __future__ import annotations

import threading

import pytest

from newsclf.serve.batcher import BatcherStoppedError, DynamicBatcher, QueueFullError


class GatedModel:
    """Answers text -> text.upper(), records each batch, and holds a batch until opened."""

    def __init__(self, hold_first: bool = True) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, texts: list[str]) -> list[str]:
        self.batches.append(list(texts))
        self.entered.set()
        assert self.gate.wait(30), "test gate never opened"
        return [t.upper() for t in texts]


def start_blocked(max_batch_size: int, max_queue: int = 1024):
    """A batcher whose worker is busy with a first text, so later submissions queue up."""
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_size, max_wait_ms=0, max_queue=max_queue)
    first = batcher.submit(["first"])
    assert model.entered.wait(30)
    return model, batcher, first


def test_waiting_requests_share_one_batch_and_each_gets_its_rows_in_order():
    model, batcher, first = start_blocked(max_batch_size=8)
    futures = [batcher.submit(["a", "b"]), batcher.submit(["c"]), batcher.submit(["d", "e", "f"])]
    assert batcher.depth == 6
    model.gate.set()
    assert first.result(30) == ["FIRST"]
    assert [f.result(30) for f in futures] == [["A", "B"], ["C"], ["D", "E", "F"]]
    assert model.batches == [["first"], ["a", "b", "c", "d", "e", "f"]]
    batcher.stop(30)


def test_max_batch_size_one_runs_every_text_alone():
    model, batcher, first = start_blocked(max_batch_size=1)
    futures = [batcher.submit(["a", "b"]), batcher.submit(["c"])]
    model.gate.set()
    assert [f.result(30) for f in futures] == [["A", "B"], ["C"]]
    assert all(len(batch) == 1 for batch in model.batches), model.batches
    batcher.stop(30)


def test_a_request_larger_than_a_batch_is_split_and_reassembled_in_order():
    model = GatedModel(hold_first=False)
    batcher = DynamicBatcher(model, max_batch_size=3, max_wait_ms=0)
    texts = [f"t{i}" for i in range(10)]
    assert batcher.submit(texts).result(30) == [t.upper() for t in texts]
    assert max(len(b) for b in model.batches) == 3
    batcher.stop(30)


def test_a_full_queue_refuses_new_texts_rather_than_growing():
    model, batcher, first = start_blocked(max_batch_size=4, max_queue=5)
    waiting = batcher.submit(["a", "b", "c", "d"])
    with pytest.raises(QueueFullError, match="4 texts are already waiting"):
        batcher.submit(["e", "f"])
    fits = batcher.submit(["e"])
    model.gate.set()
    assert waiting.result(30) == ["A", "B", "C", "D"] and fits.result(30) == ["E"]
    batcher.stop(30)


def test_stop_finishes_queued_work_then_refuses_more():
    model, batcher, first = start_blocked(max_batch_size=2)
    queued = batcher.submit(["a", "b", "c"])
    stopper = threading.Thread(target=batcher.stop)
    stopper.start()
    model.gate.set()
    stopper.join(30)
    assert not stopper.is_alive()
    assert queued.result(0) == ["A", "B", "C"]
    with pytest.raises(BatcherStoppedError):
        batcher.submit(["late"])
    batcher.open()  # as the server's startup does, when an app is started again
    model.gate.set()
    assert batcher.submit(["again"]).result(30) == ["AGAIN"]
    batcher.stop(30)


def test_a_failing_batch_fails_its_callers_and_the_worker_goes_on():
    calls = []

    def flaky(texts):
        calls.append(texts)
        if "boom" in texts:
            raise RuntimeError("model exploded")
        return texts

    batcher = DynamicBatcher(flaky, max_batch_size=1, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="model exploded"):
        batcher.submit(["boom"]).result(30)
    assert batcher.submit(["fine"]).result(30) == ["fine"]
    batcher.stop(30)


@pytest.mark.parametrize("kwargs", [{"max_batch_size": 0}, {"max_queue": 0}, {"max_wait_ms": -1}])
def test_nonsense_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        DynamicBatcher(lambda t: t, **kwargs)


def test_texts_that_queued_while_a_batch_ran_go_as_soon_as_the_model_is_free():
    # A wait of a minute: had the worker waited for company again, the result below would
    # time out.
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_size=2, max_wait_ms=60_000)
    first = batcher.submit(["first", "second"])  # a full batch runs at once
    assert model.entered.wait(30)
    queued = batcher.submit(["a"])
    model.gate.set()
    assert first.result(30) == ["FIRST", "SECOND"]
    assert queued.result(20) == ["A"]
    assert model.batches == [["first", "second"], ["a"]]
    batcher.stop(30)


def test_a_text_that_finds_the_model_idle_waits_for_company():
    model = GatedModel(hold_first=False)
    batcher = DynamicBatcher(model, max_batch_size=2, max_wait_ms=60_000)
    lone = batcher.submit(["x"])
    company = batcher.submit(["y"])  # within the minute: the batch is full and runs
    assert lone.result(30) == ["X"] and company.result(30) == ["Y"]
    assert model.batches == [["x", "y"]]
    batcher.stop(30)
