"""The reliability diagram: accuracy against confidence, per bin of confidence, before and after
the calibration (docs/trust.md). Drawn from test_metrics.json's reliability tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsclf.report.canvas import new_figure
from newsclf.task import MULTI_LABEL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RELIABILITY_TITLE = "Reliability Diagram"


def reliability_figure(metrics: dict[str, Any]) -> Figure:
    """Accuracy (multi-label: how often the tag is true) against the mean confidence of each
    bin; on the diagonal, a model is right exactly as often as it says. The ECE of each
    curve is in the legend."""
    fig = new_figure((5.6, 5.2))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    effect = metrics.get("calibration")
    series = []
    if effect and effect.get("reliability_before"):
        series.append(("before calibration", effect["reliability_before"],
                       effect["before"]["ece"], "tab:red"))  # fmt: skip
    name = "calibrated" if effect else "model"
    series.append((name, metrics["reliability"], metrics["ece"], "tab:blue"))
    for label, table, ece, colour in series:
        points = [(c, a) for c, a in zip(table["confidence"], table["accuracy"], strict=True)
                  if c is not None]  # fmt: skip
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "o-", color=colour, markersize=4, label=f"{label} (ECE {ece:.4f})")
    multi = metrics.get("task") == MULTI_LABEL
    ax.set(
        xlabel="probability of each tag" if multi else "confidence (top probability)",
        ylabel="share of tags that are true" if multi else "accuracy",
        title=RELIABILITY_TITLE, xlim=(0, 1), ylim=(0, 1),
    )  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig
