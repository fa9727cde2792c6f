import gzip
import json

import pytest

from helpers import CLASS_WORDS, synthetic_rows, write_csv
from newsclf import DataError, TrainConfig, load_data
from newsclf.data import AG_NEWS_LABELS, load_eval_split, parse_label_map, tokenize
from newsclf.errors import HubUnreachableError
from newsclf.task import ModelTask


def cfg(data, **kw) -> TrainConfig:
    return TrainConfig(data=str(data), **kw).validate()


def test_bundled_ag_news_splits_and_names():
    data = load_data(TrainConfig())
    assert data.label_names == AG_NEWS_LABELS
    sizes = {s: len(ds) for s, ds in data.splits.items()}
    assert sizes == {"train": 4500, "validation": 500, "test": 7600}
    summary = data.summary()
    assert summary["splits"]["test"]["class_counts"] == {n: 1900 for n in AG_NEWS_LABELS}
    # The original test CSV counts classes from 1; the first row is Business (3) -> id 2.
    assert data.splits["test"][0]["label"] == 2
    assert data.splits["test"][0]["text"].startswith("Fears for T N pension after talks")


def test_validation_is_stratified_seeded_and_disjoint_from_test():
    data = load_data(TrainConfig())
    train, val, test = (data.splits[s] for s in ("train", "validation", "test"))
    counts = data.summary()["splits"]
    for name in AG_NEWS_LABELS:
        share_train = counts["train"]["class_counts"][name] / len(train)
        share_val = counts["validation"]["class_counts"][name] / len(val)
        assert abs(share_train - share_val) < 0.01
    assert not set(val["text"]) & set(test["text"])
    assert not set(val["text"]) & set(train["text"])
    assert load_data(TrainConfig()).splits["validation"]["text"] == val["text"]
    assert load_data(TrainConfig(seed=1)).splits["validation"]["text"] != val["text"]


def test_subsampling_is_stratified_and_seeded():
    data = load_data(TrainConfig(max_train_samples=400, max_test_samples=200))
    assert len(data.splits["train"]) == 400
    assert data.summary()["splits"]["test"]["class_counts"] == {n: 50 for n in AG_NEWS_LABELS}


def test_original_ag_news_csv_without_header_is_one_based(tmp_path):
    rows = [(i % 4 + 1, f"title {i}", f"description {i}") for i in range(40)]
    write_csv(tmp_path / "train.csv", rows, header=None)
    write_csv(tmp_path / "test.csv", rows[:8], header=None)
    (tmp_path / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n")
    data = load_data(cfg(tmp_path))
    assert data.label_names == AG_NEWS_LABELS
    first = data.splits["test"][0]
    assert first == {"text": "title 0 description 0", "label": 0}


def test_string_labels_sorted_unless_names_given(tmp_path):
    rows = [(t, n) for t, n in synthetic_rows(40)]
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows[:8])
    data = load_data(cfg(tmp_path))
    assert data.label_names == sorted({n for _, n in rows})
    order = ["World", "Sports", "Business", "Sci/Tech"]
    data = load_data(cfg(tmp_path, label_names=order))
    assert data.label_names == order
    assert [order[i] for i in data.splits["test"]["label"]] == [n for _, n in rows[:8]]


def test_integer_labels_without_names_keep_their_values(tmp_path):
    rows = [(f"text {i}", i % 3 + 1) for i in range(30)]
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows[:6])
    data = load_data(cfg(tmp_path))
    assert data.label_names == ["1", "2", "3"]
    assert data.splits["test"]["label"] == [0, 1, 2, 0, 1, 2]


def test_jsonl_and_explicit_columns(tmp_path):
    lines = [json.dumps({"headline": t, "body": "x", "topic": n}) for t, n in synthetic_rows(20)]
    (tmp_path / "train.jsonl").write_text("\n".join(lines))
    data = load_data(
        cfg(
            tmp_path / "train.jsonl",
            test_data=str(tmp_path / "train.jsonl"),
            text_column="headline,body",
            label_column="topic",
        )
    )
    assert data.splits["test"][0]["text"].endswith(" x")


def test_missing_columns_list_what_was_found(tmp_path):
    write_csv(tmp_path / "train.csv", synthetic_rows(20), header=("body", "label"))
    with pytest.raises(DataError, match=r"found columns \['body', 'label'\]"):
        load_data(cfg(tmp_path / "train.csv", test_data=str(tmp_path / "train.csv")))
    with pytest.raises(DataError, match="Label column 'topic'.*found columns"):
        load_data(
            cfg(
                tmp_path / "train.csv",
                test_data=str(tmp_path / "train.csv"),
                text_column="body",
                label_column="topic",
            )
        )


def test_empty_dataset_and_single_class(tmp_path):
    (tmp_path / "empty.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="no rows"):
        load_data(cfg(tmp_path / "empty.csv"))
    write_csv(tmp_path / "one.csv", [(f"text {i}", "Sports") for i in range(20)])
    with pytest.raises(DataError, match="single class"):
        load_data(cfg(tmp_path / "one.csv", test_data=str(tmp_path / "one.csv")))


def test_unknown_test_labels_are_refused(tmp_path):
    write_csv(tmp_path / "train.csv", synthetic_rows(20))
    write_csv(tmp_path / "test.csv", [("a text", "Weather")])
    with pytest.raises(DataError, match=r"Labels \['Weather'\] in the test split"):
        load_data(cfg(tmp_path / "train.csv", test_data=str(tmp_path / "test.csv")))


def test_blank_texts_are_skipped_and_counted(tmp_path):
    rows = synthetic_rows(20) + [("   ", "Sports"), ("", "World")]
    write_csv(tmp_path / "train.csv", rows)
    data = load_data(cfg(tmp_path / "train.csv", test_data=str(tmp_path / "train.csv")))
    assert data.skipped_empty["train"] == 2
    assert len(data.splits["train"]) + len(data.splits["validation"]) == 20


def test_undecodable_bytes_name_the_fix(tmp_path):
    rows = b"".join(b"text %d,World\nother %d,Sports\n" % (i, i) for i in range(5))
    (tmp_path / "bad.csv").write_bytes(b"text,label\ncaf\xe9 news,World\n" + rows)
    with pytest.raises(DataError, match="not valid utf-8.*--encoding"):
        load_data(cfg(tmp_path / "bad.csv"))
    data = load_data(
        cfg(
            tmp_path / "bad.csv",
            test_data=str(tmp_path / "bad.csv"),
            encoding="latin-1",
        )
    )
    assert "café news" in data.splits["test"]["text"]


def test_gzip_csv_and_unknown_suffix(tmp_path):
    with gzip.open(tmp_path / "train.csv.gz", "wt") as fh:
        fh.write("text,label\n" + "\n".join(f"{t},{n}" for t, n in synthetic_rows(20)))
    assert (
        len(
            load_data(
                cfg(tmp_path / "train.csv.gz", test_data=str(tmp_path / "train.csv.gz"))
            ).splits["test"]
        )
        == 20
    )
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        load_data(cfg(tmp_path / "data.xlsx"))


def _no_download(monkeypatch):
    import datasets

    def download(*args, **kwargs):
        raise AssertionError("datasets.load_dataset was called: the check must come first")

    monkeypatch.setattr(datasets, "load_dataset", download)


def test_hub_id_offline_fails_naming_local_options(monkeypatch):
    _no_download(monkeypatch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="--data ag_news"):
        load_data(cfg("fancyzhx/ag_news"))


def test_hub_id_unreachable_fails_after_one_short_connection_attempt(monkeypatch):
    """Fast by construction: one connection attempt with a short timeout, no retries."""
    import socket

    _no_download(monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    attempts = []

    def refuse(address, timeout=None):
        attempts.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(HubUnreachableError, match="unreachable"):
        load_data(cfg("fancyzhx/ag_news"))
    assert attempts == [(("127.0.0.1", 9), 3)]


def test_misspelt_source_is_explained():
    with pytest.raises(DataError, match="neither a bundled dataset"):
        load_data(cfg("agnews"))


def test_tokenize_truncates_and_records_lengths(tokenizer):
    data = load_data(TrainConfig(max_train_samples=64, max_test_samples=16, max_eval_samples=16))
    out = tokenize(data.splits, tokenizer, 24)
    assert max(out["train"]["length"]) <= 24
    assert {"input_ids", "attention_mask", "label", "length"} <= set(out["train"].column_names)
    assert "text" not in out["train"].column_names


def test_one_labelled_file_gets_a_stratified_seeded_test_split(tmp_path):
    write_csv(tmp_path / "labelled.csv", synthetic_rows(200))
    data = load_data(cfg(tmp_path / "labelled.csv"))
    summary = data.summary()
    carved = {"from": "train", "fraction": 0.1, "seed": 42, "method": "stratified"}
    assert summary["carved"]["test"] == carved
    assert summary["splits"]["test"]["class_counts"] == {n: 5 for n in sorted(CLASS_WORDS)}
    assert any(note.startswith("test: 20 rows held out from train") for note in summary["notes"])
    train, val, test = (set(data.splits[s]["text"]) for s in ("train", "validation", "test"))
    assert len(data.splits["train"]) + len(data.splits["validation"]) == 180
    assert load_data(cfg(tmp_path / "labelled.csv")).splits["test"]["text"] == list(
        data.splits["test"]["text"]
    )
    again = load_data(cfg(tmp_path / "labelled.csv", seed=7)).splits["test"]["text"]
    assert again != data.splits["test"]["text"]
    # Evaluating the run later scores the same carved rows, not the whole file.
    texts, labels, _ = load_eval_split(
        cfg(tmp_path / "labelled.csv"), "test", ModelTask(data.label_names), False
    )
    assert (texts, labels) == (data.splits["test"]["text"], data.splits["test"]["label"])


@pytest.mark.parametrize(
    ("rows", "columns"),
    [
        ([(t, n) for t, n in synthetic_rows(20)], ["text", "label"]),
        ([(n, t) for t, n in synthetic_rows(20)], ["label", "text"]),
    ],
)
def test_headerless_csv_is_detected_and_said(tmp_path, rows, columns):
    write_csv(tmp_path / "train.csv", rows, header=None)
    data = load_data(cfg(tmp_path / "train.csv", test_data=str(tmp_path / "train.csv")))
    assert len(data.splits["test"]) == 20  # the first row is data, not a header
    assert data.splits["test"][0]["text"] == synthetic_rows(20)[0][0]
    assert "train.csv has no header row (detected" in data.notes[0]
    assert str(columns) in data.notes[0]


def test_no_header_reads_the_first_row_as_data(tmp_path):
    rows = [(f"unique text {i}", f"class {i % 2}") for i in range(10)]
    write_csv(tmp_path / "train.csv", rows, header=None)
    data = load_data(
        cfg(tmp_path / "train.csv", header=False, test_data=str(tmp_path / "train.csv"))
    )
    assert len(data.splits["test"]) == 10
    assert "(--no-header)" in data.notes[0]
    with pytest.raises(DataError, match=r"No text column.*found columns \['unique text 0'"):
        load_data(cfg(tmp_path / "train.csv", header=True))


def test_label_names_match_ignoring_case_and_punctuation(tmp_path):
    rows = [("a", "world"), ("b", "SPORTS"), ("c", "sci_tech"), ("d", " Business ")]
    write_csv(tmp_path / "eval.csv", rows)
    texts, labels, _ = load_eval_split(
        cfg(tmp_path / "eval.csv"), "test", ModelTask(AG_NEWS_LABELS), True
    )
    assert labels == [0, 1, 3, 2] and texts == ["a", "b", "c", "d"]


def test_evaluating_on_a_dataset_scores_its_split():
    names = list(reversed(AG_NEWS_LABELS))  # a model may number the classes its own way
    bundled = cfg("ag_news")
    texts, labels, _ = load_eval_split(bundled, "test", ModelTask(names), True)
    data = load_data(bundled)
    assert texts == data.splits["test"]["text"]
    assert [names[i] for i in labels] == [AG_NEWS_LABELS[i] for i in data.splits["test"]["label"]]


def test_label_map_from_pairs_and_files(tmp_path):
    assert parse_label_map("world=World, sci_tech = Sci/Tech") == {
        "world": "World",
        "sci_tech": "Sci/Tech",
    }
    (tmp_path / "map.yaml").write_text("politics: World\nfootball: Sports\n")
    mapping = parse_label_map(str(tmp_path / "map.yaml"))
    assert mapping == {"politics": "World", "football": "Sports"}
    write_csv(tmp_path / "eval.csv", [("a", "politics"), ("b", "football")])
    eval_cfg = cfg(tmp_path / "eval.csv")
    _, labels, _ = load_eval_split(eval_cfg, "test", ModelTask(AG_NEWS_LABELS), True, mapping)
    assert labels == [0, 1]
    with pytest.raises(DataError, match=r"'politics'\] in the test split"):
        load_eval_split(eval_cfg, "test", ModelTask(AG_NEWS_LABELS), True)


def test_empty_labels_are_refused_not_made_a_class(tmp_path):
    write_csv(tmp_path / "train.csv", [*synthetic_rows(20), ("a text", "")])
    with pytest.raises(
        DataError, match="1 row\\(s\\) with an empty label, the first at data row 21"
    ):
        load_data(cfg(tmp_path / "train.csv"))
    # A blank row is skipped whole, its label with it.
    write_csv(tmp_path / "train.csv", [*synthetic_rows(20), ("  ", "")])
    assert load_data(cfg(tmp_path / "train.csv")).skipped_empty["train"] == 1


def test_yaml_learning_rate_in_e_notation_is_a_number(tmp_path):
    """YAML 1.1 reads `1e-4` as a string; it is converted, not refused."""
    (tmp_path / "run.yaml").write_text("learning_rate: 1e-4\nepochs: 3.0\nname: 2024\n")
    loaded = TrainConfig.from_yaml(tmp_path / "run.yaml")
    assert (loaded.learning_rate, loaded.epochs, loaded.name) == (1e-4, 3, "2024")


@pytest.mark.parametrize("header", [("text", "label"), None])
def test_reading_in_small_chunks_gives_the_same_data(tmp_path, monkeypatch, header):
    """CSV files are read CHUNK_ROWS rows at a time: chunk boundaries (here every 7 rows,
    the header in the first chunk or not) must change no split, row, label, count or note."""
    import newsclf.data.readers

    rows = synthetic_rows(60) + [("   ", "Sports"), ("", "World")] + synthetic_rows(13, seed=1)
    write_csv(tmp_path / "train.csv", rows, header=header)
    config = cfg(tmp_path / "train.csv", seed=3)
    whole = load_data(config)
    monkeypatch.setattr(newsclf.data.readers, "CHUNK_ROWS", 7)
    chunked = load_data(config)
    assert chunked.summary() == whole.summary()
    assert chunked.skipped_empty["train"] == 2
    for split in ("train", "validation", "test"):
        assert chunked.splits[split].to_dict() == whole.splits[split].to_dict(), split
    # Row numbers in errors count across chunks: the empty label is data row 75.
    write_csv(tmp_path / "bad.csv", [*synthetic_rows(74), ("a text", "")], header=header)
    with pytest.raises(DataError, match="the first at data row 75"):
        load_data(cfg(tmp_path / "bad.csv"))
