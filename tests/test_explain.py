"""`Classifier.explain` and `newsclf explain`: a score per word, in text order.

The model is built by construction, not trained, so its answer is known on any CPU: every
word embedding is zero except the keyword's, the attention is uniform and the feed-forward
blocks add nothing, so the [CLS] state (and the prediction) moves only when the keyword is in
the text, and grows with the keyword's embedding. Integrated gradients from the all-pad baseline then give every other word exactly
zero (its embedding equals the baseline's), and deleting any other word changes only how many
tokens the uniform attention averages, so the keyword must carry the largest score by either
method.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

KEYWORD = "zebra"
TEXT = "the market opened and zebra traders watched quietly"


@pytest.fixture(scope="module")
def keyword_model_dir(tmp_path_factory, tokenizer):
    import torch
    from transformers import BertForSequenceClassification

    from helpers import tiny_bert_config

    config = tiny_bert_config(
        tokenizer, hidden_size=4, num_hidden_layers=1, num_attention_heads=1,
        intermediate_size=4, num_labels=2, hidden_dropout_prob=0.0, max_position_embeddings=512,
        attention_probs_dropout_prob=0.0, id2label={0: "animal", 1: "other"},
        # A LayerNorm epsilon of 1 keeps the output growing with the keyword's embedding along
        # the whole path integrated gradients follow (a tiny one makes it scale-free).
        layer_norm_eps=1.0,
        label2id={"animal": 0, "other": 1},
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        for module in model.modules():  # LayerNorms pass the normalised vector through
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
        emb = model.bert.embeddings.word_embeddings.weight
        emb[tokenizer.convert_tokens_to_ids(KEYWORD)] = torch.tensor([1.0, -1.0, 0.0, 0.0])
        layer = model.bert.encoder.layer[0]
        for linear in (layer.attention.self.value, layer.attention.output.dense,
                       model.bert.pooler.dense):  # fmt: skip
            linear.weight.copy_(torch.eye(4))
        model.classifier.weight.copy_(torch.tensor([[20.0, -20, 0, 0], [-20, 20, 0, 0]]))
    path = tmp_path_factory.mktemp("keyword-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def keyword_classifier(keyword_model_dir):
    from newsclf import Classifier

    return Classifier.from_pretrained(keyword_model_dir, device="cpu")


def test_the_constructed_model_answers_by_the_keyword(keyword_classifier):
    with_keyword, without = keyword_classifier.predict([TEXT, "the market opened quietly"])
    assert with_keyword.label == "animal" and with_keyword.score > 0.99
    assert without.probabilities == pytest.approx({"animal": 0.5, "other": 0.5})


@pytest.mark.parametrize("method", ["gradients", "occlusion"])
def test_the_keyword_gets_the_largest_score(keyword_classifier, method):
    (explanation,) = keyword_classifier.explain(TEXT, method=method)
    assert explanation.label == "animal" and explanation.method == method
    assert [w for w, _ in explanation.words] == TEXT.split()  # every word, in text order
    scores = dict(explanation.words)
    assert max(scores, key=lambda w: abs(scores[w])) == KEYWORD
    assert scores[KEYWORD] > 0  # it pushes towards the predicted class
    assert sum(abs(s) for s in scores.values()) == pytest.approx(1.0)
    others = [abs(s) for w, s in explanation.words if w != KEYWORD]
    # Gradients: another word's embedding is the baseline's, so its attribution is zero.
    # Occlusion: deleting it only changes how many tokens the attention averages.
    assert max(others) < (1e-6 if method == "gradients" else 0.1 * scores[KEYWORD])


def test_another_label_sees_the_keyword_push_away(keyword_classifier):
    (explanation,) = keyword_classifier.explain(TEXT, label="other")
    scores = dict(explanation.words)
    assert explanation.label == "other" and explanation.probability < 0.01
    assert scores[KEYWORD] == pytest.approx(-1.0, abs=1e-3)


def test_subword_pieces_are_merged_into_their_word(keyword_classifier, tokenizer):
    text = "zebra unbelievably, Quietly!"
    assert len(tokenizer.tokenize("unbelievably")) > 1  # the word is cut into pieces
    (explanation,) = keyword_classifier.explain(text, method="occlusion")
    assert [w for w, _ in explanation.words] == ["zebra", "unbelievably", ",", "Quietly", "!"]


def test_a_long_text_is_read_like_a_prediction(keyword_classifier):
    long = " ".join(["market"] * 600) + " zebra"  # the keyword lies past 512 tokens
    (explanation,) = keyword_classifier.explain(long, method="occlusion")
    assert explanation.truncated
    assert len(explanation.words) == keyword_classifier.backend.max_length - 2
    assert KEYWORD not in dict(explanation.words)


def test_bad_label_and_method_are_refused(keyword_classifier):
    from newsclf.errors import InputError

    with pytest.raises(InputError, match="not a class of this model"):
        keyword_classifier.explain(TEXT, label="Sports")
    with pytest.raises(InputError, match="expected one of"):
        keyword_classifier.explain(TEXT, method="shap")


def test_cli_json_is_one_object_per_text(keyword_model_dir, capsys):
    from newsclf.cli import main

    assert main(["explain", str(keyword_model_dir), TEXT, "plain words", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["text"] == TEXT and first["label"] == "animal"
    assert [w["word"] for w in first["words"]] == TEXT.split()
    assert max(first["words"], key=lambda w: abs(w["score"]))["word"] == KEYWORD
    assert second["text"] == "plain words"


def test_cli_plain_output_when_not_a_terminal(keyword_model_dir, capsys):
    from newsclf.cli import main

    assert main(["explain", str(keyword_model_dir), TEXT, "--label", "other"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal
    assert "other" in out and "zebra[-1.00]" in out


# --- the server: POST /explain, the page's Explain button ---------------------------------


@pytest.fixture(scope="module")
def http(keyword_classifier, keyword_model_dir):
    from fastapi.testclient import TestClient

    from newsclf.serve.app import create_app

    return TestClient(create_app(keyword_classifier, keyword_model_dir))


def test_explain_endpoint_answers_words_in_text_order(http, keyword_classifier):
    body = http.post("/explain", json={"text": TEXT}).json()
    assert body["label"] == "animal" and body["method"] == "gradients"
    assert [w["word"] for w in body["words"]] == TEXT.split()
    assert max(body["words"], key=lambda w: abs(w["score"]))["word"] == KEYWORD
    assert body == keyword_classifier.explain(TEXT)[0].to_dict()
    other = http.post("/explain", json={"text": TEXT, "label": "other"}).json()
    assert other["label"] == "other"


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"text": "  "}, 422, "blank"),
        ({"text": TEXT, "label": "Sports"}, 422, "not a class of this model"),
        ({"text": "word " * 5000}, 413, "characters"),
        ({"texts": [TEXT]}, 422, ""),
    ],
)
def test_explain_endpoint_refuses_bad_requests(http, payload, status, message):
    response = http.post("/explain", json=payload)
    assert response.status_code == status
    assert message in str(response.json()["detail"])


# --- the report: a few misclassified test texts explained ---------------------------------


def test_the_most_confident_mistakes_are_explained_first(keyword_model_dir, keyword_classifier):
    from newsclf.report.explained import explain_mistakes

    texts = ["plain words", TEXT, "zebra", "nothing here"]
    inference = keyword_classifier.infer(texts)
    true = np.array([1, 1, 0, 1])  # "zebra" is right; the others are predicted "animal"
    found = explain_mistakes(keyword_model_dir, texts, true, inference, ["animal", "other"])
    assert [f["row"] for f in found] == [1, 0, 3]  # TEXT at p ~ 1 first, then the 50/50 ties
    assert all(f["true"] == "other" and f["label"] == "animal" for f in found)
    assert max(found[0]["words"], key=lambda w: abs(w["score"]))["word"] == KEYWORD


def test_the_report_shades_the_explained_words_and_escapes_them(tmp_path):
    from newsclf.report.page import ReportContent, render_report
    from synthetic import HISTORY, synthetic_run

    run = synthetic_run(tmp_path / "run")
    words = [{"word": "<b>zebra</b>", "score": 0.75}, {"word": "market", "score": -0.25}]
    explained = {"text": "-", "label": "animal", "probability": 0.9, "method": "gradients",
                 "truncated": False, "words": words, "true": "other", "row": 0}  # fmt: skip
    page = render_report(ReportContent(run.config, run.data.summary(), HISTORY, run.metrics,
                                       explanations=[explained]))  # fmt: skip
    assert 'id="why"' in page and "<b>zebra</b>" not in page
    assert 'style="background: rgba(26, 127, 55, 0.6)">&lt;b&gt;zebra&lt;/b&gt;</span>' in page
    assert 'style="background: rgba(207, 34, 46, 0.2)">market</span>' in page
    assert 'id="why"' not in render_report(ReportContent(run.config, run.data.summary(), HISTORY))


def test_an_onnx_export_is_explained_by_occlusion(keyword_model_dir, keyword_classifier, tmp_path):
    """No gradients on ONNX Runtime: occlusion by default, the same words and scores as
    occlusion on the PyTorch model it was exported from."""
    from newsclf import Classifier, export
    from newsclf.errors import InputError

    export(keyword_model_dir, tmp_path / "onnx")
    onnx = Classifier.from_pretrained(tmp_path / "onnx")
    (explanation,) = onnx.explain(TEXT)
    (reference,) = keyword_classifier.explain(TEXT, method="occlusion")
    assert explanation.method == "occlusion"
    assert [w for w, _ in explanation.words] == [w for w, _ in reference.words]
    for (_, got), (_, want) in zip(explanation.words, reference.words, strict=True):
        assert got == pytest.approx(want, abs=1e-3)
    with pytest.raises(InputError, match="no gradients"):
        onnx.explain(TEXT, method="gradients")
    long = " ".join(["market"] * 600) + " zebra"
    assert onnx.explain(long)[0].truncated


def test_class_log_odds_are_stable_near_certainty():
    import math

    import torch

    from newsclf.inference.gradients import class_log_odds

    logits = torch.tensor([[2.0, 1.0, -1.0], [30.0, 0.0, 0.0]], dtype=torch.float64)
    p = torch.softmax(logits[0], -1)
    want = [math.log(float(q) / (1 - float(q))) for q in p]
    assert class_log_odds(logits)[0].tolist() == pytest.approx(want)
    # p = 1 - 2e-13: 1 - p is lost in float32, the log-odds are not (30 - log 2).
    assert class_log_odds(logits.float())[1, 0].item() == pytest.approx(30 - math.log(2), abs=1e-4)


def test_a_multi_label_model_explains_its_most_probable_tag(tiny_bert_dir, tmp_path):
    from newsclf import Classifier
    from serve_helpers import build_tag_model

    path = build_tag_model(
        tiny_bert_dir,
        tmp_path / "tags",
        {"World": 0.5, "Sports": 0.5, "Business": 0.5, "Sci/Tech": 0.5},
    )
    clf = Classifier.from_pretrained(path, device="cpu")
    text = "Markets rally as profits soar"
    probabilities = clf.predict(text)[0].probabilities
    for method in ("gradients", "occlusion"):
        (explanation,) = clf.explain(text, method=method)
        assert explanation.label == max(probabilities, key=probabilities.get)
        assert explanation.probability == pytest.approx(probabilities[explanation.label])
        assert [w for w, _ in explanation.words] == text.split()
