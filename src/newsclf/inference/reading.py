"""How an explanation reads a text: the tokens the model reads, the words they make, and which
token belongs to which word. An explanation reads a text's first window: its first max-length
tokens (`newsclf.reading`), the whole text when it fits; a model that reads long texts head and
tail or in chunks is explained on that first window only (docs/explain.md). `read_for_explain`
is the one place this is decided (both methods take the tokens from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from newsclf.inference.backend import Backend


class Explained(Protocol):
    """What an explanation needs of a Classifier (a Protocol, so this module and the
    Classifier do not import each other)."""

    backend: Backend | Any  # PyTorch (`.model`, `.tokenizer`) or ONNX (`.tokenizer`)
    label_names: list[str]
    multi_label: bool

    def infer(self, texts: Sequence[str]) -> Any:  # an Inference (`.probabilities`)
        ...


@dataclass
class Reading:
    """A text as the model reads it: the character span of each word it reads and, per token,
    its word (None for special tokens)."""

    spans: list[tuple[int, int]]  # each read word's (start, end) in the text
    token_words: list[int | None]  # per token: the index into `spans`, or None
    truncated: bool
    ids: list[int]  # the token ids read, special tokens included


def read_for_explain(classifier: Explained, text: str) -> Reading:
    """The one place an explanation reads a text: the backend's tokenizer, truncated at its
    max length like a prediction."""
    backend = classifier.backend
    limit = backend.max_length
    if hasattr(backend, "model"):  # a transformers fast tokenizer
        enc = backend.tokenizer(text, truncation=True, max_length=limit,
                                return_offsets_mapping=True)  # fmt: skip
        word_ids, offsets, ids = enc.word_ids(), enc["offset_mapping"], enc["input_ids"]
        full = len(backend.tokenizer(text, truncation=False, verbose=False)["input_ids"])
    else:  # a `tokenizers.Tokenizer` (ONNX export): a copy that truncates at the max length
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(backend.tokenizer.to_str())
        tokenizer.enable_truncation(limit)
        enc = tokenizer.encode(text)
        word_ids, offsets, ids = enc.word_ids, enc.offsets, enc.ids
        full = len(enc.ids) + sum(len(o.ids) for o in enc.overflowing)
    return _reading(word_ids, offsets, full > len(word_ids), list(ids))


def _reading(
    word_ids: Sequence[int | None],
    offsets: Sequence[tuple[int, int]],
    truncated: bool,
    ids: list[int],
) -> Reading:
    spans: list[tuple[int, int]] = []
    token_words: list[int | None] = []
    index: dict[int, int] = {}
    for word, (start, end) in zip(word_ids, offsets, strict=True):
        if word is None:
            token_words.append(None)
            continue
        if word not in index:
            index[word] = len(spans)
            spans.append((start, end))
        at = index[word]
        spans[at] = (spans[at][0], max(spans[at][1], end))
        token_words.append(at)
    return Reading(spans, token_words, truncated, ids)
