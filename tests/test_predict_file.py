"""`newsclf predict MODEL --file big.csv --output predictions.csv`: streamed, ordered, atomic."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from newsclf import Classifier
from newsclf.cli import main
from newsclf.data.readers import count_rows
from newsclf.errors import DataError
from newsclf.inference import predict_file
from serve_helpers import AG_NAMES, PROBE_TEXTS, build_spread_model

# Texts cycle through the probe texts, with blanks where rows are to be skipped.
TEXTS = [PROBE_TEXTS[i % len(PROBE_TEXTS)] if i % 9 != 4 else "   " for i in range(40)]


@pytest.fixture(scope="module")
def spread_dir(tiny_bert_dir, tmp_path_factory):
    return build_spread_model(tiny_bert_dir, tmp_path_factory.mktemp("spread"))


@pytest.fixture(scope="module")
def classifier(spread_dir):
    return Classifier.from_pretrained(spread_dir)


class Spy:
    """Wraps a classifier and records how many texts each call got."""

    def __init__(self, inner, fail_on_call: int | None = None) -> None:
        self.inner, self.fail_on_call, self.calls = inner, fail_on_call, []
        self.label_names, self.multi_label = inner.label_names, inner.multi_label
        self.prediction = inner.prediction

    def infer(self, texts, batch_size=None):
        self.calls.append(len(texts))
        if len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt
        return self.inner.infer(texts, batch_size=batch_size)


def write_inputs(folder, texts) -> dict[str, object]:
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    paths = {
        "csv": folder / "in.csv",
        "tsv.gz": folder / "in.tsv.gz",
        "jsonl": folder / "in.jsonl",
        "parquet": folder / "in.parquet",
        "txt": folder / "in.txt",
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["tsv.gz"], sep="\t", index=False)
    frame.to_json(paths["jsonl"], orient="records", lines=True)
    frame.to_parquet(paths["parquet"])
    paths["txt"].write_text("\n".join(texts) + "\n", encoding="utf-8")
    return paths


@pytest.mark.parametrize("fmt", ["csv", "tsv.gz", "jsonl", "parquet", "txt"])
def test_rows_come_out_in_input_order_chunk_by_chunk(classifier, tmp_path, fmt):
    path = write_inputs(tmp_path, TEXTS)[fmt]
    spy = Spy(classifier)
    done = predict_file(spy, path, tmp_path / "out.csv", chunk_rows=7, progress=False)

    keep = [i for i, t in enumerate(TEXTS) if t.strip()]
    assert (done.rows_read, done.rows_written, done.skipped_empty) == (
        40,
        len(keep),
        40 - len(keep),
    )
    assert max(spy.calls) <= 7 and sum(spy.calls) == len(keep)  # never more than a chunk held
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["row", "label", "score", *(f"p_{n}" for n in AG_NAMES)]
    assert out["row"].tolist() == keep
    want = classifier.infer([TEXTS[i] for i in keep]).probabilities
    got = out[[f"p_{n}" for n in AG_NAMES]].to_numpy()
    assert np.allclose(got, want, atol=1e-5)
    assert out["label"].tolist() == [AG_NAMES[i] for i in want.argmax(axis=1)]
    assert count_rows(path) == 40


def test_an_interrupted_run_leaves_no_file_under_the_final_name(classifier, tmp_path):
    path = write_inputs(tmp_path, TEXTS)["csv"]
    output = tmp_path / "out.csv"
    output.write_text("an older result\n")
    with pytest.raises(KeyboardInterrupt):
        predict_file(Spy(classifier, fail_on_call=3), path, output, chunk_rows=5, progress=False)
    assert output.read_text() == "an older result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["in.csv", "in.tsv.gz", "in.jsonl", "in.parquet", "in.txt", "out.csv"]
    )


class ConstantClassifier:
    """Answers instantly, so that the test measures the reading and writing alone."""

    label_names = AG_NAMES
    multi_label = False

    def infer(self, texts, batch_size=None):
        from newsclf.inference import Inference

        return Inference(np.tile([0.1, 0.2, 0.3, 0.4], (len(texts), 1)))

    def prediction(self, probabilities):
        from newsclf.inference import Prediction

        return Prediction.from_probabilities(probabilities, AG_NAMES)


def test_memory_stays_bounded_on_a_file_far_larger_than_a_chunk(tmp_path):
    path = tmp_path / "big.txt"
    line = "Stocks rally as investors cheer strong quarterly earnings from chip makers\n"
    with path.open("w") as fh:
        for _ in range(10):
            fh.write(line * 10_000)  # 100,000 rows, 7.5 MB
    tracemalloc.start()
    try:
        done = predict_file(ConstantClassifier(), path, tmp_path / "out.csv", chunk_rows=1000,
                            progress=False)  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.rows_written == 100_000
    # Holding the texts alone would take over 10 MB (as str); one chunk is ~0.1 MB.
    assert peak < 5 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_the_progress_bar_shows_only_when_asked_or_on_a_terminal(classifier, tmp_path, capsys):
    path = write_inputs(tmp_path, TEXTS)["txt"]
    predict_file(classifier, path, tmp_path / "a.csv")  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    predict_file(classifier, path, tmp_path / "b.csv", progress=True)
    assert "Predicting" in capsys.readouterr().err


def test_a_missing_column_names_what_is_there(classifier, tmp_path):
    path = write_inputs(tmp_path, TEXTS)["csv"]
    with pytest.raises(DataError, match=r"no column 'body': found \['id', 'text'\]"):
        predict_file(classifier, path, tmp_path / "out.csv", column="body")
    assert not (tmp_path / "out.csv").exists()


def test_newsclf_predict_file_output(spread_dir, tmp_path, capsys):
    path = write_inputs(tmp_path, TEXTS)["jsonl"]
    output = tmp_path / "sub" / "predictions.csv"
    assert main(["predict", str(spread_dir), "--file", str(path), "--output", str(output)]) == 0
    assert "wrote 36 predictions" in capsys.readouterr().out
    assert len(pd.read_csv(output)) == 36
    assert main(["predict", str(spread_dir), "some text", "--output", str(output)]) == 2
    assert "pass --file FILE" in capsys.readouterr().err


def test_json_array_files_work_too(classifier, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"text": t} for t in PROBE_TEXTS]))
    done = predict_file(classifier, path, tmp_path / "out.csv", chunk_rows=5, progress=False)
    assert done.rows_written == len(PROBE_TEXTS)
