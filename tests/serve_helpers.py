"""Helpers for the serving tests: a real uvicorn server on a free loopback port, in a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class LiveServer:
    """`with LiveServer(app) as url:` serves `app` on 127.0.0.1 (the OS picks the port)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "the server thread died while starting"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def reference_logits(model_dir, texts: list[str]):
    """Logits from plain transformers in fp32, one text at a time: no newsclf code involved."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            rows.append(model(**enc).logits[0].numpy())
    return rows


AG_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
PROBE_TEXTS = [
    "Federer wins his fifth Wimbledon title",
    "Oil prices climb as OPEC cuts output",
    "Intel unveils a new laptop chip",
    "Ministers meet in Geneva for cease-fire talks",
    "Stocks rally",
    "The striker scored twice as the league leaders won again at home on Saturday night.",
    "Linux",
    "Shares of the airline fell 12 percent after it warned that fuel costs would erase profit.",
    "Troops withdraw",
    "A new browser promises faster pages and fewer crashes for people on slow connections.",
    "Coach resigns",
    "Parliament votes",
]


def build_spread_model(tiny_bert_dir, path, scale: float = 2.0):
    """A tiny 4-class classifier whose answers differ clearly from text to text.

    A random tiny encoder gives every text nearly the same [CLS] state, so every text gets the
    same probabilities and a row sent back to the wrong caller would go unnoticed. Here the
    first layer's attention is set by hand to add the (near-uniform) mean of the token
    embeddings to [CLS], which makes the model a bag of words with a random linear head.
    """
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        tiny_bert_dir, num_labels=4, id2label=dict(enumerate(AG_NAMES)),
        label2id={n: i for i, n in enumerate(AG_NAMES)},
    )  # fmt: skip
    hidden = model.config.hidden_size
    eye = torch.eye(hidden)
    with torch.no_grad():
        attention = model.bert.encoder.layer[0].attention
        attention.self.value.weight.copy_(eye)
        attention.self.value.bias.zero_()
        attention.output.dense.weight.copy_(4 * eye)
        model.bert.pooler.dense.weight.copy_(eye)
        model.bert.pooler.dense.bias.zero_()
        model.classifier.weight.normal_(0.0, scale)
        model.classifier.bias.zero_()
        # Centre the logits on the probe texts, so that no class wins them all.
        tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
        enc = tokenizer(PROBE_TEXTS, padding=True, return_tensors="pt")
        model.classifier.bias.copy_(-model.eval()(**enc).logits.mean(dim=0))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tag_model(tiny_bert_dir, path, thresholds: dict[str, float]):
    """The spread model as a multi-label one, with known thresholds in its config."""
    import json

    build_spread_model(tiny_bert_dir, path)
    config = json.loads((path / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    config["newsclf_thresholds"] = thresholds
    (path / "config.json").write_text(json.dumps(config))
    return path
