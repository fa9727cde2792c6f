"""The matplotlib canvas every PNG of a run is drawn on, and its PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A Figure on the Agg canvas, without pyplot: no display needed, no global state touched
    (so a notebook's own matplotlib backend is left alone), nothing to close afterwards."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, title: str) -> bytes:
    """The figure as PNG, with the title also in the PNG metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Title": title})
    return buffer.getvalue()
