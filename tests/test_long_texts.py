"""How long texts are read (newsclf.reading): known window boundaries, head-tail selection and
pooling; a planted keyword past the first window; one reading in training, both backends, the
server and the saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from helpers import crash_at_batch, history_without_times, tiny_config
from newsclf import resume, train
from newsclf.errors import ConfigError
from newsclf.inference import Classifier
from newsclf.reading import (
    READING_KEY,
    Reading,
    TextReader,
    count_windows,
    pool,
    window_spans,
)
from newsclf.training.recipe import choose_reading

CHUNKS_24 = dict(long_texts="chunks", max_length=24, stride=6)


# --- windows, head-tail, pooling: known answers ------------------------------------------------


def test_chunk_windows_overlap_by_the_stride_and_the_last_ends_at_the_text_end():
    reading = Reading("chunks", 128, 32)
    # 126 content tokens a window, a step of 94: starts 0, 94, then the last ends at token 300.
    assert window_spans(300, 126, reading) == [[(0, 126)], [(94, 220)], [(174, 300)]]
    assert window_spans(126, 126, reading) == [[(0, 126)]]
    assert window_spans(127, 126, reading) == [[(0, 126)], [(1, 127)]]
    assert window_spans(0, 126, reading) == [[(0, 0)]]


def test_more_windows_than_the_cap_are_spread_from_first_to_last():
    reading = Reading("chunks", 12, 0, max_windows=3)  # 10 content tokens, no overlap
    spans = window_spans(100, 10, reading)  # 10 windows, read at 3: the first, middle, last
    assert spans == [[(0, 10)], [(40, 50)], [(90, 100)]]


@pytest.mark.parametrize("mode", ["truncate", "head-tail", "chunks"])
def test_count_windows_agrees_with_the_windows(mode):
    reading = Reading(mode, 20, 5 if mode == "chunks" else 0, max_windows=7)
    for n in range(0, 400, 7):
        assert count_windows(n, 18, reading) == len(window_spans(n, 18, reading))


def test_head_tail_reads_the_first_quarter_and_the_last_three_quarters():
    assert window_spans(300, 126, Reading("head-tail", 128)) == [[(0, 32), (206, 300)]]
    assert window_spans(100, 126, Reading("head-tail", 128)) == [[(0, 100)]]  # short: whole


def test_truncate_reads_the_first_tokens_only():
    assert window_spans(300, 126, Reading("truncate", 128)) == [[(0, 126)]]


def test_pooling_known_window_logits():
    logits = np.array([[1.0, 5.0], [3.0, 1.0], [2.0, 2.0], [0.0, 4.0]], dtype=np.float32)
    doc = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(pool(logits, doc, "mean"), [[2.0, 8 / 3], [0.0, 4.0]], rtol=1e-6)
    assert pool(logits, doc, "max").tolist() == [[3.0, 5.0], [0.0, 4.0]]
    one_each = np.arange(3)
    assert pool(logits[:3], one_each, "mean").tolist() == logits[:3].tolist()


def test_bad_readings_are_refused_with_the_range():
    with pytest.raises(ConfigError, match="expected one of truncate, head-tail, chunks"):
        Reading("sliding", 128)
    with pytest.raises(ConfigError, match="0 to 63 tokens"):
        Reading("chunks", 128, 64)
    with pytest.raises(ConfigError, match="long_texts='windows'"):
        tiny_config(Path("."), Path("."), long_texts="windows")


def test_auto_truncates_and_says_how_many_texts_it_cuts(tiny_bert_dir):
    cfg = tiny_config(tiny_bert_dir, Path("."), long_texts="auto")
    reading, words = choose_reading(cfg, [10] * 90 + [100] * 10, 64)  # 10% cut
    assert reading == Reading("truncate", 64)
    assert "10.0% of the training texts run past 64 tokens" in words
    assert "--long-texts chunks or head-tail" in words
    _, words = choose_reading(cfg, [10] * 100, 64)
    assert "0.0% of the training texts" in words and "--long-texts chunks" not in words


# --- the reader with the packaged tokenizer ------------------------------------------------------


def test_truncate_reads_what_the_tokenizer_truncation_gives(tokenizer):
    texts = ["short one", " ".join(["word"] * 80) + " end"]
    reader = TextReader.from_transformers(tokenizer, Reading("truncate", 32))
    expected = tokenizer(texts, truncation=True, max_length=32)["input_ids"]
    assert reader.read(texts).ids == expected


def test_chunks_cover_every_token_in_windows_of_the_max_length(tokenizer):
    from tokenizers import Tokenizer

    text = " ".join(f"w{i}" for i in range(60))  # about 150 tokens: 7 windows, under the cap
    reading = Reading("chunks", 32, 8)
    windows = TextReader.from_transformers(tokenizer, reading).read([text, "tiny"])
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert all(w[0] == cls and w[-1] == sep and len(w) <= 32 for w in windows.ids)
    assert windows.doc.tolist() == [0] * (len(windows.ids) - 1) + [1]
    seen = [t for w in windows.ids[:-1] for t in w[1:-1]]
    assert set(seen) == set(plain) and windows.tokens.tolist()[0] == len(plain)
    # The torch-free path (the ONNX backend's) reads the same windows.
    fast = Tokenizer.from_file(str(Path(tokenizer.name_or_path) / "tokenizer.json"))
    assert TextReader.from_tokenizers(fast, reading).read([text, "tiny"]).ids == windows.ids


# --- a planted keyword past the first window -------------------------------------------------------


class KeywordModel:
    """A stand-in classifier with known logits: "present" scores 10 per keyword token in the
    window, "absent" a constant 1, so the answer says whether the reading saw the keyword."""

    def __new__(cls, keyword_id: int, reading: Reading):
        import torch
        from transformers import BertConfig

        class Model(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(1))
                self.num_labels = 2
                self.config = BertConfig(num_labels=2, id2label={0: "absent", 1: "present"})
                setattr(self.config, READING_KEY, reading.to_config())

            def forward(self, input_ids, attention_mask, token_type_ids=None, **_):
                hits = ((input_ids == keyword_id) & (attention_mask == 1)).sum(1).float()
                logits = torch.stack([torch.ones_like(hits), 10 * hits], dim=1) + self.weight
                return type("Out", (), {"logits": logits, "hidden_states": None})()

        return Model()


@pytest.mark.parametrize(
    "mode, expected", [("truncate", "absent"), ("head-tail", "present"), ("chunks", "present")]
)
def test_a_keyword_past_the_first_128_tokens_is_found_by_reading_past_them(
    tokenizer, mode, expected
):
    from newsclf.inference.torch_backend import TorchBackend

    keyword = "volcano"
    keyword_id = tokenizer.convert_tokens_to_ids(keyword)
    text = " ".join(["the market was calm today"] * 50) + f" {keyword} erupted"
    assert len(tokenizer(text)["input_ids"]) > 200
    reading = Reading(mode, 128, 32 if mode == "chunks" else 0)
    clf = Classifier(TorchBackend(KeywordModel(keyword_id, reading), tokenizer))
    assert clf.predict([text])[0].label == expected
    assert clf.predict([f"{keyword} erupted"])[0].label == "present"  # short: every reading


# --- one reading in training, saved, and read back by every backend ------------------------------


@pytest.fixture(scope="module")
def chunks_run(tmp_path_factory, tiny_bert_dir):
    return train(tiny_config(tiny_bert_dir, tmp_path_factory.mktemp("runs"), **CHUNKS_24))


def test_a_chunks_run_saves_its_reading_and_scores_texts_not_windows(chunks_run):
    run_dir = chunks_run.run_dir
    config = json.loads((run_dir / "best_model" / "config.json").read_text())
    assert config[READING_KEY] == Reading("chunks", 24, 6).to_config()
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert test["num_samples"] == 80  # texts, however many windows
    assert test["reading"]["texts"] == 80 and test["reading"]["windows"] > 80
    assert test["reading"]["longer_than_max_length"] > 0
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epochs"][0]["steps"] > 160 // 16  # windows are the training rows
    clf = Classifier.from_pretrained(run_dir)
    assert clf.reading == Reading("chunks", 24, 6)
    card = (run_dir / "best_model" / "README.md").read_text()
    assert "windows of 24 tokens overlapping by 6" in card
    assert "max_length=24, stride=6, truncation=True, return_overflowing_tokens=True" in card


def test_pytorch_and_onnx_give_the_same_answer_on_long_texts(chunks_run, tmp_path):
    from newsclf import export

    out = tmp_path / "onnx"
    info = export(chunks_run.run_dir, out)
    assert info["max_abs_prob_diff_vs_pytorch"] < 1e-4  # its sample texts include a long one
    texts = [" ".join(["stocks rally on strong earnings"] * 30), "short text"]
    torch_probs = Classifier.from_pretrained(chunks_run.run_dir).infer(texts).probabilities
    onnx = Classifier.from_pretrained(out)
    assert onnx.reading == Reading("chunks", 24, 6)
    np.testing.assert_allclose(onnx.infer(texts).probabilities, torch_probs, atol=1e-4)
    assert "truncation(24)" in (out / "README.md").read_text()


def test_a_megabyte_text_is_read_in_a_bounded_number_of_windows(chunks_run):
    clf = Classifier.from_pretrained(chunks_run.run_dir)
    text = "markets steady as talks resume " * 33_000  # about 1 MB
    assert len(text) > 1_000_000
    summary = clf.reading_summary([text])
    assert summary["windows"] == 16 and summary["longer_than_max_length"] == 1
    assert len(clf.predict([text])) == 1


def test_the_server_refuses_a_request_of_too_many_windows_naming_the_limit(chunks_run):
    from newsclf.serve.app import create_app
    from newsclf.serve.options import ServeOptions

    model_dir = chunks_run.run_dir / "best_model"
    clf = Classifier.from_pretrained(model_dir)
    app = create_app(clf, model_dir, ServeOptions(precision="fp32", max_windows=5))
    with TestClient(app) as client:
        long = " ".join(["stocks rally"] * 60)
        refused = client.post("/predict", json={"texts": [long]})
        assert refused.status_code == 413
        assert "the limit is 5 per request" in refused.json()["detail"]
        assert client.post("/predict", json={"texts": ["stocks rally"]}).status_code == 200
        assert client.get("/health").json()["reading"]["mode"] == "chunks"


def test_a_chunks_run_resumed_after_a_crash_gives_the_uninterrupted_history(
    chunks_run, tmp_path, tiny_bert_dir, monkeypatch
):
    cfg = tiny_config(tiny_bert_dir, tmp_path, save_every=5, **CHUNKS_24)
    crash_at_batch(monkeypatch, 12)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    monkeypatch.undo()
    resumed = resume(tmp_path / "tiny")
    assert history_without_times(resumed.run_dir) == history_without_times(chunks_run.run_dir)


def test_a_multi_label_run_reads_in_chunks_too(tmp_path, tiny_bert_dir):
    from helpers import write_csv

    rows = [(" ".join([f"alpha {i}"] * 20), "a|b" if i % 2 else "a") for i in range(60)]
    data = write_csv(tmp_path / "tags.csv", rows, header=("text", "labels"))
    cfg = tiny_config(tiny_bert_dir, tmp_path, data=str(data), label_column="labels",
                      task="multi-label", max_train_samples=None, max_eval_samples=None,
                      max_test_samples=None, **CHUNKS_24)  # fmt: skip
    run = train(cfg)
    test = json.loads((run.run_dir / "test_metrics.json").read_text())
    assert test["task"] == "multi-label" and test["reading"]["mode"] == "chunks"
    assert test["reading"]["windows"] > test["reading"]["texts"]
