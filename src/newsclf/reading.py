"""How a model reads a text, in one place: the tokens it sees of a long text, and how the
answers of several windows of one text become one answer (docs/long-texts.md).

A model reads at most `max_length` tokens at once (its special tokens included). A longer text
is read in one of three ways, chosen when the model is trained and saved in its config.json
under READING_KEY, so that training, validation, test, `evaluate`, `predict`, `serve`, the
ONNX export and the t-SNE all read a text the same way:

- `truncate`: the first tokens (what a transformers pipeline does);
- `head-tail`: the first quarter and the last three quarters of the window (Sun et al. 2019,
  "How to Fine-Tune BERT for Text Classification?", found 128 + 382 tokens best on IMDb);
- `chunks`: windows of `max_length` tokens overlapping by `stride`, covering the whole text;
  each window is scored and the windows' logits are pooled (mean, or max) into one answer.
  A text of more than `max_windows` windows is read at `max_windows` of them, spread evenly
  from its first to its last, so the work per text is bounded whatever its size.

This module is pure Python and numpy (no torch): the ONNX backend reads texts through it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from newsclf.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import numpy as np

TRUNCATE, HEAD_TAIL, CHUNKS = "truncate", "head-tail", "chunks"
READINGS = (TRUNCATE, HEAD_TAIL, CHUNKS)
AUTO = "auto"  # config.AUTO: chosen from the data when training starts
LONG_TEXTS = (AUTO, *READINGS)  # what --long-texts accepts
POOLS = ("mean", "max")
READING_KEY = "newsclf_reading"  # config.json: Reading.to_config()
# Sun et al. 2019: the first 128 and the last 382 of 510 tokens, a quarter and three quarters.
HEAD_SHARE = 0.25
# Windows overlap by a quarter of a window unless --stride says otherwise, so a phrase cut at a
# window's edge is read whole in its neighbour.
STRIDE_SHARE = 0.25
# At most this many windows per text: 16 windows of 256 tokens read about 3,000 words; a longer
# text is read at 16 windows spread over it. It bounds a training epoch and any one answer.
MAX_WINDOWS = 16
# A model saved without a reading (not trained by newsclf, or before readings were saved) is
# read as transformers reads it: truncated to the tokenizer's limit, at most 512 tokens.
LEGACY_LIMIT = 512


class ReadingSettings(Protocol):
    """The fields of a TrainConfig that say how its model reads a text."""

    max_length: int | str
    long_texts: str
    stride: int | str


@dataclass(frozen=True)
class Reading:
    """How a model reads a text: the mode, the tokens per window (special tokens included), the
    overlap between windows, the most windows per text, and how window logits are pooled."""

    mode: str = TRUNCATE
    max_length: int = LEGACY_LIMIT
    stride: int = 0
    max_windows: int = MAX_WINDOWS
    pool: str = "mean"

    def __post_init__(self) -> None:
        if self.mode not in READINGS:
            raise ConfigError(f"long_texts={self.mode!r}: expected one of {', '.join(READINGS)}.")
        if self.pool not in POOLS:
            raise ConfigError(f"pool={self.pool!r}: expected one of {', '.join(POOLS)}.")
        if self.max_length < 3 or self.max_windows < 1:
            raise ConfigError(
                f"max_length={self.max_length}, max_windows={self.max_windows}: expected a "
                "max length of at least 3 tokens and at least 1 window."
            )
        if self.mode == CHUNKS and not 0 <= self.stride < self.max_length // 2:
            raise ConfigError(
                f"stride={self.stride} with max_length={self.max_length}: expected an overlap "
                f"between windows of 0 to {self.max_length // 2 - 1} tokens (under half a "
                "window). Pass a smaller --stride, or leave it auto."
            )

    def to_config(self) -> dict[str, Any]:
        """What config.json keeps under READING_KEY."""
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], limit: int = LEGACY_LIMIT) -> Reading:
        """A saved model's reading. A model without one is truncated at the most it can read:
        `limit` (its tokenizer's), its position embeddings, and 512."""
        saved = config.get(READING_KEY)
        if saved is None:
            positions = config.get("max_position_embeddings")
            limits = [limit, LEGACY_LIMIT] + ([positions] if isinstance(positions, int) else [])
            return cls(TRUNCATE, min(limits))
        try:
            return cls(**saved)
        except (TypeError, ConfigError) as err:
            raise ModelError(
                f"config.json has {READING_KEY}={saved!r}, which newsclf cannot read ({err}). "
                f"Expected keys {sorted(asdict(cls()))}; retrain or fix the file."
            ) from None

    @classmethod
    def of_config(cls, cfg: ReadingSettings) -> Reading:
        """The reading a resolved config trains with (max_length, long_texts and, for chunks,
        stride chosen)."""
        unchosen = AUTO in (cfg.max_length, cfg.long_texts)
        if unchosen or (cfg.long_texts == CHUNKS and cfg.stride == AUTO):
            raise ConfigError(
                f"max_length={cfg.max_length!r}, long_texts={cfg.long_texts!r}, "
                f"stride={cfg.stride!r}: a reading needs them chosen. Call newsclf.train(cfg), "
                "which chooses them from the data, or set them."
            )
        return cls(cfg.long_texts, cfg.max_length, cfg.stride if cfg.long_texts == CHUNKS else 0)

    def describe(self) -> str:
        """One line for every command that loads the model."""
        if self.mode == TRUNCATE:
            return f"texts read up to {self.max_length} tokens (longer ones truncated)"
        if self.mode == HEAD_TAIL:
            return f"long texts read as their first and last tokens, {self.max_length} in all"
        return (
            f"long texts read in windows of {self.max_length} tokens overlapping by "
            f"{self.stride} (at most {self.max_windows} per text), their logits pooled by "
            f"{self.pool}"
        )


def default_stride(max_length: int) -> int:
    """The overlap `--stride auto` gives a window of `max_length` tokens."""
    return int(max_length * STRIDE_SHARE)


def check_long_texts(long_texts: str, stride: int | str, max_length: int | str) -> None:
    """The config's --long-texts and --stride values (a whole number >= 0, or 'auto'; under
    half a window when both are numbers)."""
    if long_texts not in LONG_TEXTS:
        raise ConfigError(
            f"long_texts={long_texts!r}: expected one of {', '.join(LONG_TEXTS)} (how texts "
            "longer than the max length are read; docs/long-texts.md)."
        )
    if stride != AUTO and (not isinstance(stride, int) or isinstance(stride, bool) or stride < 0):
        raise ConfigError(f"stride={stride!r}: expected a whole number of tokens >= 0, or 'auto'.")
    if long_texts == CHUNKS and AUTO not in (stride, max_length) and isinstance(max_length, int):
        Reading(CHUNKS, max_length, stride)  # refuses an overlap of half a window or more


def window_spans(n: int, content: int, reading: Reading) -> list[list[tuple[int, int]]]:
    """The token ranges (start, end) each window reads of a text of `n` tokens, when a window
    holds `content` tokens besides the special ones. head-tail is one window of two ranges."""
    if n <= content:
        return [[(0, n)]]
    if reading.mode == TRUNCATE:
        return [[(0, content)]]
    if reading.mode == HEAD_TAIL:
        head = max(round(content * HEAD_SHARE), 1)
        return [[(0, head), (n - (content - head), n)]]
    step = max(content - reading.stride, 1)
    starts = list(range(0, n - content, step)) + [n - content]  # the last ends at the text's end
    if len(starts) > reading.max_windows:  # spread evenly, the first and the last kept
        picks = sorted(
            {
                round(i * (len(starts) - 1) / (reading.max_windows - 1 or 1))
                for i in range(reading.max_windows)
            }
        )
        starts = [starts[i] for i in picks]
    return [[(s, s + content)] for s in starts]


def count_windows(n: int, content: int, reading: Reading) -> int:
    """How many windows a text of `n` content tokens is read in (no tokens needed)."""
    if n <= content or reading.mode != CHUNKS:
        return 1
    step = max(content - reading.stride, 1)
    return min(math.ceil((n - content) / step) + 1, reading.max_windows)


@dataclass
class Windows:
    """The windows a list of texts is read in, in text order: a text's windows are consecutive."""

    ids: list[list[int]]  # each window's token ids, special tokens included
    doc: np.ndarray  # [windows]: the text each window belongs to
    tokens: np.ndarray  # [texts]: each text's token count, special tokens excluded

    @property
    def lengths(self) -> np.ndarray:
        import numpy as np

        return np.fromiter((len(w) for w in self.ids), dtype=np.int64, count=len(self.ids))


class TextReader:
    """A tokenizer and a Reading: texts in, the windows the model reads out.

    Built from a transformers tokenizer (`from_transformers`) or, torch-free, from a
    `tokenizers.Tokenizer` (`from_tokenizers`, the ONNX backend). Either way the text is
    tokenized whole, without special tokens, then cut by `window_spans` and wrapped in the
    model's special tokens: one rule for every command."""

    def __init__(
        self,
        encode: Callable[[list[str]], list[list[int]]],
        specials: tuple[list[int], list[int]],
        reading: Reading,
    ) -> None:
        self.encode = encode
        self.prefix, self.suffix = specials
        self.reading = reading
        self.content = reading.max_length - len(self.prefix) - len(self.suffix)
        if self.content < 1:
            raise ConfigError(
                f"max_length={reading.max_length} leaves no room for text besides the model's "
                f"{len(self.prefix) + len(self.suffix)} special tokens: expected at least "
                f"{len(self.prefix) + len(self.suffix) + 1}."
            )

    @classmethod
    def from_transformers(cls, tokenizer: Any, reading: Reading) -> TextReader:
        def encode(texts: list[str]) -> list[list[int]]:
            # verbose=False: a text past the model's limit is expected here, not warned about.
            out = tokenizer(
                texts, add_special_tokens=False, truncation=False, verbose=False,
                return_attention_mask=False, return_token_type_ids=False,
            )  # fmt: skip
            return out["input_ids"]

        plain, wrapped = encode([SPECIALS_PROBE])[0], tokenizer(SPECIALS_PROBE)["input_ids"]
        return cls(encode, split_specials(wrapped, plain), reading)

    @classmethod
    def from_tokenizers(cls, tokenizer: Any, reading: Reading) -> TextReader:
        tokenizer.no_truncation()  # the reading cuts, not the tokenizer
        tokenizer.no_padding()

        def encode(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

        plain, wrapped = encode([SPECIALS_PROBE])[0], tokenizer.encode(SPECIALS_PROBE).ids
        return cls(encode, split_specials(wrapped, plain), reading)

    def read(self, texts: Sequence[str]) -> Windows:
        """Every text's windows, in text order."""
        import numpy as np

        ids, doc, tokens = [], [], []
        encoded = self.encode(list(texts)) if len(texts) else []  # tokenizers refuse no texts
        for i, text_ids in enumerate(encoded):
            tokens.append(len(text_ids))
            for spans in window_spans(len(text_ids), self.content, self.reading):
                window = list(self.prefix)
                for start, end in spans:
                    window += text_ids[start:end]
                ids.append(window + self.suffix)
                doc.append(i)
        return Windows(ids, np.asarray(doc, dtype=np.int64), np.asarray(tokens, dtype=np.int64))

    def windows_needed(self, texts: Sequence[str]) -> int:
        """How many windows `texts` are read in (a server's cap counts them before queueing)."""
        return sum(
            count_windows(len(t), self.content, self.reading) for t in self.encode(list(texts))
        )


# Tokenized with and without special tokens to learn which ones the model wraps a text in.
SPECIALS_PROBE = "a"


def split_specials(wrapped: list[int], plain: list[int]) -> tuple[list[int], list[int]]:
    """The special tokens before and after a text: `wrapped` is `plain` with them added."""
    for start in range(len(wrapped) - len(plain) + 1):
        if wrapped[start : start + len(plain)] == plain:
            return wrapped[:start], wrapped[start + len(plain) :]
    raise ModelError(
        f"the tokenizer wraps {SPECIALS_PROBE!r} as {wrapped}, which does not contain its plain "
        f"tokens {plain}: newsclf cannot tell its special tokens apart. Use a model whose "
        "tokenizer adds special tokens around a single text (BERT, RoBERTa, MiniLM, ...)."
    )


def pool(values: np.ndarray, doc: np.ndarray, how: str = "mean") -> np.ndarray:
    """One row per text from the rows of its windows (`doc` ascending: a text's windows are
    consecutive): their mean, or their max per column. One window per text: the row itself."""
    import numpy as np

    if not len(doc):
        return values[:0]
    starts = pool_starts(doc)
    if how == "max":
        return np.maximum.reduceat(values, starts, axis=0)
    counts = np.diff(np.r_[starts, len(doc)]).astype(values.dtype)
    return np.add.reduceat(values, starts, axis=0) / counts[:, None]


def pool_starts(doc: np.ndarray) -> np.ndarray:
    """The position of each text's first window (`doc` ascending)."""
    import numpy as np

    return np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]]) if len(doc) else doc[:0]


def summary_line(summary: dict[str, Any]) -> str:
    """One line of a `reading_summary`: how the texts were read, and how many were long."""
    reading = Reading(**{k: summary[k] for k in asdict(Reading())})
    long = summary["longer_than_max_length"]
    line = f"reading: {reading.describe()}; {long:,} of {summary['texts']:,} texts were longer"
    if reading.mode == CHUNKS:
        return f"{line}, {summary['windows']:,} windows in all"
    return line
