"""The one rule for texts to classify, used by the CLI, the Python API and the server alike.

A text is a string with at least one non-space character. A bad one is named by its position
counted from 1, as a person counts ("text 2 of 3", "row 7"): the same numbering in every
message newsclf prints, whichever way the texts came in. Training and evaluation data are
different: there blank rows are skipped and counted in data.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from newsclf.errors import InputError


def check_texts(texts: Sequence[Any], where: str = "text") -> list[str]:
    """`texts` as a list, or an InputError naming the first bad one: "<where> <i> of <n>"."""
    for i, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise InputError(
                f"{where} {i} of {len(texts)} is {type(text).__name__} {text!r}: expected a "
                "string. Pass texts as strings."
            )
        if not text.strip():
            raise InputError(
                f"{where} {i} of {len(texts)} is blank ({text!r}): expected at least one "
                "non-space character. Remove it or fill it in."
            )
    return list(texts)
