import shutil

import numpy as np
import pytest

from newsclf import Classifier, InputError, ModelError
from newsclf.data import AG_NEWS_LABELS
from newsclf.inference import read_texts
from newsclf.texts import check_texts

TEXTS = [
    "Federer wins his fifth Wimbledon title",
    "Oil prices climb as OPEC cuts output",
    "New chip doubles laptop battery life",
    "short",
]


def test_classifier_returns_names_and_probabilities(tiny_run):
    clf = Classifier.from_pretrained(tiny_run.run_dir / "best_model")
    preds = clf.predict(TEXTS)
    assert len(preds) == len(TEXTS)
    for pred in preds:
        assert pred.label in AG_NEWS_LABELS
        assert list(pred.probabilities) == AG_NEWS_LABELS
        assert sum(pred.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert pred.score == max(pred.probabilities.values())
    assert clf.predict(TEXTS[0])[0] == preds[0]  # one string is one text


def test_inference_keeps_input_order_and_gives_cls_embeddings(tiny_run):
    clf = Classifier.from_pretrained(tiny_run.run_dir)  # a run dir resolves to its best_model
    both = clf.infer(TEXTS, return_embeddings=True, batch_size=2)
    one_by_one = np.vstack([clf.infer([t]).probabilities for t in TEXTS])
    np.testing.assert_allclose(both.probabilities, one_by_one, atol=1e-5)
    assert both.embeddings.shape == (len(TEXTS), 32)


def test_plain_transformers_pipeline_returns_names(tiny_run):
    """The pipeline names the same classes with the same probabilities. Compared through the
    probabilities, not the argmax: a near tie may break either way under other padding."""
    from transformers import pipeline

    best = str(tiny_run.run_dir / "best_model")
    pipe = pipeline("text-classification", model=best, device="cpu")
    out = pipe(TEXTS)
    ours = Classifier.from_pretrained(best).predict(TEXTS)
    for theirs, mine in zip(out, ours, strict=True):
        assert theirs["label"] in AG_NEWS_LABELS
        assert theirs["score"] == pytest.approx(mine.probabilities[theirs["label"]], abs=1e-4)


def test_blank_texts_are_refused_with_their_position(tiny_bert_dir):
    clf = Classifier.from_pretrained(tiny_bert_dir)
    with pytest.raises(InputError, match=r"text 2 of 3 is blank \('  '\)"):
        clf.predict(["fine", "  ", "also fine"])
    with pytest.raises(InputError, match="text 1 of 1 is blank"):
        clf.predict("")
    with pytest.raises(InputError, match="text 1 of 2 is int"):
        clf.predict([3, "x"])
    assert clf.predict([]) == []
    assert len(clf.predict(["x"])) == 1


def test_check_texts_is_the_one_rule():
    assert check_texts(["a", " b "]) == ["a", " b "]
    for bad in ([""], ["\t\n"], ["a", " "], [None]):
        with pytest.raises(InputError, match="of"):
            check_texts(bad)


def test_model_dir_without_weights_or_tokenizer_is_refused(tiny_run, tmp_path):
    best = tiny_run.run_dir / "best_model"
    no_weights = shutil.copytree(best, tmp_path / "no_weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"missing weights"):
        Classifier.from_pretrained(no_weights)
    no_tok = shutil.copytree(best, tmp_path / "no_tok")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (no_tok / name).unlink(missing_ok=True)
    with pytest.raises(ModelError, match="tokenizer files"):
        Classifier.from_pretrained(no_tok)


def test_read_texts_from_lines_and_tables(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\n  two  \n")
    assert read_texts(tmp_path / "a.txt") == ["one", "two"]
    (tmp_path / "b.csv").write_text("headline,x\nhello,1\nworld,2\n")
    assert read_texts(tmp_path / "b.csv", column="headline") == ["hello", "world"]
    with pytest.raises(ValueError, match=r"found \['headline', 'x'\]"):
        read_texts(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text('text\nhello\n"  "\n')
    with pytest.raises(InputError, match="row 2 of 2 is blank"):
        read_texts(tmp_path / "c.csv")
