"""Quiet output, in one place: when progress bars are drawn, and how the libraries' own bars and
load reports are silenced.

transformers and datasets draw bars for loading weights and writing rows, and transformers
reports a new classification head as "missing weights": noise in a one-shot command and in
logs. Every part of newsclf silences them through `quiet_libraries`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

# The libraries `quiet_libraries` knows how to silence.
LIBRARIES = ("transformers", "datasets", "logging", "optuna")


def show_progress(quiet: bool) -> bool:
    """Progress bars only for a person watching: not with --quiet, not when stderr is a log."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def quiet_libraries(*libraries: str) -> Iterator[None]:
    """Within the block, the named libraries draw no progress bars and log errors only; their
    settings are put back afterwards. `logging` silences Python warnings-level log records
    (the ONNX exporter and quantizer log through it); `optuna` keeps its warnings and drops
    its line per trial. Naming no library silences them all.

    Each library is imported only when named, so an ONNX-only command never loads transformers.
    """
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        raise ValueError(f"quiet_libraries({unknown}): expected names among {LIBRARIES}")
    with ExitStack() as stack:
        for name in libraries or LIBRARIES:
            stack.enter_context(_SILENCERS[name]())
        yield


@contextmanager
def _transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextmanager
def _datasets() -> Iterator[None]:
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if bars:
            datasets.enable_progress_bars()


@contextmanager
def _logging() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@contextmanager
def _optuna() -> Iterator[None]:
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


_SILENCERS = {
    "transformers": _transformers,
    "datasets": _datasets,
    "logging": _logging,
    "optuna": _optuna,
}
