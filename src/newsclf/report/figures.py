"""The pictures of a run: training curves and confusion matrix (PNG, matplotlib; for a
multi-label run the tags' co-occurrence and the decision-threshold curve instead of the
confusion matrix) and the 3D t-SNE scatter (Plotly). Builders take plain data and return
figures or PNG bytes; `plot_run` (`newsclf plot RUN`) draws the PNGs of a run directory from
its files.

matplotlib and plotly are imported inside the functions so `newsclf --help` stays instant.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsclf import rundir
from newsclf.errors import DataError
from newsclf.evaluation.metrics import NO_TAG
from newsclf.report.canvas import new_figure, png_bytes
from newsclf.report.reliability import RELIABILITY_TITLE, reliability_figure
from newsclf.task import METRIC_NAMES, MULTI_LABEL

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from plotly.graph_objects import Figure as PlotlyFigure

log = logging.getLogger(__name__)

PROGRESS_TITLE = "Model Training Progress"
CONFUSION_TITLE = "Confusion Matrix"
TSNE_TITLE = "3D t-SNE Visualization of Embeddings"
COOCCURRENCE_TITLE = "Label Co-occurrence"
CURVE_TITLE = "Decision Threshold Curve"
MULTI_LABEL_COLOUR_RULE = "of a text's true tags, the one most frequent in training"
ANNOTATE_UP_TO = 15  # classes: beyond this, cells are too small to hold their counts
# The report's alt text of each PNG, by file name.
PNG_TITLES = {
    rundir.PROGRESS_PNG: PROGRESS_TITLE,
    rundir.CONFUSION_PNG: CONFUSION_TITLE,
    rundir.COOCCURRENCE_PNG: COOCCURRENCE_TITLE,
    rundir.CURVE_PNG: CURVE_TITLE,
    rundir.RELIABILITY_PNG: RELIABILITY_TITLE,
}


# ----------------------------------------------------------------------------- matplotlib


def training_progress_figure(history: dict[str, Any]) -> Figure:
    """Loss per epoch (left) and validation accuracy/F1 per epoch (right), best epoch marked."""
    if history.get("soup"):
        return soup_progress_figure(history)
    epochs = history["epochs"]
    x = [e["epoch"] for e in epochs]
    (label, scores), others = _validation_series(history)
    best = history.get("best_epoch") or x[int(np.argmax(scores))]
    best_score = scores[x.index(best)] if best in x else scores[-1]

    fig = new_figure((11, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    fig.suptitle(PROGRESS_TITLE, fontsize=14, fontweight="bold")
    ax_loss.plot(x, [e["train_loss"] for e in epochs], "o-", label="train loss (average)")
    if all(e.get("val_loss") is not None for e in epochs):
        ax_loss.plot(x, [e["val_loss"] for e in epochs], "s--", label="validation loss")
    multi = history.get("task") == MULTI_LABEL
    ax_loss.set(
        xlabel="epoch", ylabel=f"{'binary ' if multi else ''}cross-entropy loss", title="Loss"
    )

    ax_acc.plot(x, scores, "o-", color="tab:green", label=label)
    for name, values in others:
        ax_acc.plot(x, values, "s--", color="tab:olive", label=name)
    ax_acc.plot(
        [best],
        [best_score],
        "*",
        color="crimson",
        markersize=16,
        label=f"best epoch {round(best, 2):g} ({best_score:.3f})",
    )
    ax_acc.set(xlabel="epoch", ylabel="score", title="Validation")
    for ax in (ax_loss, ax_acc):
        ax.margins(x=0.05, y=0.12)  # room for the best-epoch star at the top edge
        ax.axvline(best, color="crimson", linestyle=":", linewidth=1)
        ax.set_xticks(epoch_ticks(x))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def epoch_ticks(epochs: Sequence[float]) -> list[float]:
    """Every evaluation's epoch when they are whole epochs; with evaluations inside epochs
    (1.2, 1.4, ...), the whole epochs only, so the labels stay readable."""
    if all(float(e).is_integer() for e in epochs):
        return sorted(set(epochs))
    return list(range(0, int(np.ceil(max(epochs))) + 1))


def soup_progress_figure(history: dict[str, Any]) -> Figure:
    """A model soup's training: each member's losses and validation score per epoch, and the
    score of the soup (the members' best weights averaged), the model that was saved."""
    soup = history["soup"]
    fig = new_figure((11, 4.2))
    ax_loss, ax_val = fig.subplots(1, 2)
    fig.suptitle(PROGRESS_TITLE, fontsize=14, fontweight="bold")
    for m in range(1, len(soup["seeds"]) + 1):
        rows = [e for e in history["epochs"] if e.get("member") == m]
        x = [e["epoch"] for e in rows]
        line = ax_loss.plot(x, [e["train_loss"] for e in rows], "o-", label=f"member {m} train")
        ax_loss.plot(x, [e["val_loss"] for e in rows], "s--", color=line[0].get_color(), alpha=0.6)
        (label, scores), _ = _validation_series({**history, "epochs": rows})
        ax_val.plot(x, scores, "o-", color=line[0].get_color(), label=f"member {m}")
    (label, (best,)), _ = _validation_series({**history, "epochs": [soup]})
    ax_val.axhline(best, color="crimson", linestyle=":", label=f"soup: saved ({best:.3f})")
    ax_loss.set(xlabel="epoch", ylabel="loss (dashed: validation)", title="Loss")
    ax_val.set(xlabel="epoch", ylabel=label, title="Validation")
    for ax in (ax_loss, ax_val):
        ax.set_xticks(epoch_ticks([e["epoch"] for e in history["epochs"]]))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _validation_series(
    history: dict[str, Any],
) -> tuple[tuple[str, list[float]], list[tuple[str, list[float]]]]:
    """The metric that chose the best epoch, and the others drawn beside it, per epoch."""
    epochs, metric = history["epochs"], history.get("metric", "accuracy")
    if history.get("task") == MULTI_LABEL:
        chosen = (f"val {METRIC_NAMES[metric]}", [e["val_metrics"][metric] for e in epochs])
        other = "macro_f1" if metric != "macro_f1" else "micro_f1"
        return chosen, [(f"val {METRIC_NAMES[other]}", [e["val_metrics"][other] for e in epochs])]
    series = [("val accuracy", [e["val_accuracy"] for e in epochs])]
    if all(e.get("val_f1") is not None for e in epochs):
        series.append(("val macro F1", [e["val_f1"] for e in epochs]))
    if metric == "macro_f1":
        series.reverse()
    return series[0], series[1:]


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], label_names: Sequence[str]) -> Figure:
    """Heatmap of row-normalised rates (recall per true class), each cell also giving its count."""
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(label_names)
    if counts.shape != (n, n):
        raise DataError(
            f"Confusion matrix has shape {counts.shape} but there are {n} label names; "
            "expected a square matrix with one row and column per class."
        )
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    accuracy = np.trace(counts) / max(counts.sum(), 1)

    side = max(5.0, 1.1 * n + 2.5)
    fig = new_figure((side + 1.5, side))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fontsize = max(5, 11 - n // 3)  # many classes: smaller cell labels so they still fit
    for i in range(n):
        for j in range(n):
            color = "white" if rates[i, j] > 0.5 else "black"
            text = f"{counts[i, j]}\n{rates[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    many = n > 4  # long class lists: slanted tick labels so they do not overlap
    ax.set_xticks(
        range(n), labels=label_names, rotation=45 if many else 0, ha="right" if many else "center"
    )
    ax.set_yticks(range(n), labels=label_names)
    ax.set(xlabel="predicted label", ylabel="true label")
    ax.set_title(
        f"{CONFUSION_TITLE} (test, {counts.sum()} texts, accuracy {accuracy:.1%})", fontsize=12
    )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- multi-label


def cooccurrence_figure(counts: Sequence[Sequence[int]], label_names: Sequence[str]) -> Figure:
    """Cell (i, j): the share of rows tagged i that are also tagged j; the diagonal is 1 and
    gives each tag's row count."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(label_names)
    totals = np.diag(counts).reshape(-1, 1)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    side = min(max(5.0, 0.35 * n + 3), 16.0)
    fig = new_figure((side + 1.5, side))
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Purples", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row tag's rows")
    if n <= ANNOTATE_UP_TO:
        for i in range(n):
            for j in range(n):
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", color=color, fontsize=8)
    fontsize = 9 if n <= 30 else 5
    ax.set_xticks(range(n), labels=label_names, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), labels=label_names, fontsize=fontsize)
    ax.set(xlabel="also tagged", ylabel="rows tagged")
    ax.set_title(f"{COOCCURRENCE_TITLE} (train, {int(np.diag(counts).sum())} tags)", fontsize=12)
    fig.tight_layout()
    return fig


def threshold_curve_figure(thresholds: dict[str, Any]) -> Figure:
    """The validation metric at each threshold applied to every class, and the chosen one(s):
    `thresholds` is what thresholds.json holds."""
    curve, metric = thresholds["validation_curve"], thresholds["metric"]
    chosen = sorted(set(thresholds["thresholds"].values()))
    fig = new_figure((7, 4.2))
    ax = fig.subplots()
    name = METRIC_NAMES[metric]
    ax.plot(curve["threshold"], curve[metric], "-", color="tab:purple", label=f"validation {name}")
    if len(chosen) == 1:
        ax.axvline(chosen[0], color="crimson", linestyle=":", label=f"chosen {chosen[0]:.2f}")
    else:
        ax.axvspan(chosen[0], chosen[-1], color="crimson", alpha=0.1, label="per-class range")
    ax.set(xlabel="threshold (the same for every class)", ylabel=name, title=CURVE_TITLE)
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def run_pngs(
    history: dict[str, Any],
    metrics: dict[str, Any] | None,
    data_summary: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """The PNGs of a run by file name: the curves, plus the confusion matrix and the
    reliability diagram once tested; a multi-label run has the tags' co-occurrence and the
    threshold curve instead of the confusion matrix."""
    pngs = {rundir.PROGRESS_PNG: png_bytes(training_progress_figure(history), PROGRESS_TITLE)}
    if metrics is not None and "confusion_matrix" in metrics:
        matrix = confusion_matrix_figure(metrics["confusion_matrix"], metrics["label_names"])
        pngs[rundir.CONFUSION_PNG] = png_bytes(matrix, CONFUSION_TITLE)
    if data_summary and "cooccurrence" in data_summary:
        names = data_summary["label_names"]
        figure = cooccurrence_figure(data_summary["cooccurrence"], names)
        pngs[rundir.COOCCURRENCE_PNG] = png_bytes(figure, COOCCURRENCE_TITLE)
    if thresholds and "validation_curve" in thresholds:
        figure = threshold_curve_figure(thresholds)
        pngs[rundir.CURVE_PNG] = png_bytes(figure, CURVE_TITLE)
    if metrics is not None and "reliability" in metrics:
        pngs[rundir.RELIABILITY_PNG] = png_bytes(reliability_figure(metrics), RELIABILITY_TITLE)
    return pngs


def plot_run(run_dir: Path) -> list[Path]:
    """`newsclf plot RUN`: training_progress.png, plus confusion_matrix.png once tested (the
    co-occurrence and threshold pictures for a multi-label run)."""
    history = rundir.read_history(run_dir)
    metrics = rundir.read_test_metrics(run_dir)
    if metrics is None:
        log.info("%s has no test_metrics.json: skipped the confusion matrix.", run_dir)
    summary = rundir.read_optional(run_dir, rundir.DATA_JSON)
    thresholds = rundir.read_optional(run_dir, rundir.THRESHOLDS_JSON)
    return rundir.write_files(run_dir, run_pngs(history, metrics, summary, thresholds))


# ----------------------------------------------------------------------------- plotly


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _hover_text(text: str) -> str:
    # Plotly hover labels understand <br> but not CSS wrapping; break lines by hand.
    words, lines, line = html.escape(shorten(text, 160), quote=False).split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 60:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])


def split_of(records: list[dict[str, Any]]) -> str:
    """The split the points come from ("test" for CSVs written before the column existed)."""
    return (records[0].get("split") or "test") if records else "test"


def tsne_figure(records: list[dict[str, Any]], label_names: Sequence[str]) -> PlotlyFigure:
    """One colour per true class; misclassified points drawn as larger outlined diamonds.

    Multi-label points (records with `tags`) are coloured by their `label`: of a point's true
    tags, the one most frequent in training (MULTI_LABEL_COLOUR_RULE); a point is correct
    when its predicted tag set equals its true one."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    multi = bool(records) and "tags" in records[0]
    groups = [*label_names, NO_TAG] if multi else list(label_names)
    palette = qualitative.Plotly if len(groups) <= 10 else qualitative.Alphabet
    wrong = sum(not r["correct"] for r in records)
    fig = go.Figure()
    for k, name in enumerate(groups):
        color = palette[k % len(palette)]
        shown = False  # one legend entry per class, which toggles both of its traces
        for correct in (True, False):
            points = [r for r in records if r["label"] == name and r["correct"] == correct]
            if points:
                fig.add_trace(_tsne_trace(points, name, color, correct, showlegend=not shown))
                shown = True
    rule = f" · colour: {MULTI_LABEL_COLOUR_RULE}" if multi else ""
    fig.update_layout(
        title={
            "text": f"{TSNE_TITLE}<br><sup>{len(records)} {split_of(records)} texts · ● correct · "
            f"◆ misclassified ({wrong}) · hover a point for its text{rule}</sup>"
        },
        scene={"xaxis_title": "t-SNE 1", "yaxis_title": "t-SNE 2", "zaxis_title": "t-SNE 3"},
        legend={
            "title": {"text": "most frequent true tag" if multi else "true label"},
            "itemsizing": "constant",
        },
        height=720,
        margin={"l": 0, "r": 0, "b": 0, "t": 70},
    )
    return fig


def _tsne_trace(
    points: list[dict[str, Any]], name: str, color: str, correct: bool, showlegend: bool
) -> Any:
    import plotly.graph_objects as go

    # gl3d draws markers as font glyphs: circle and diamond render everywhere, "x" is an emoji
    # that shows as an empty box without an emoji font (as in headless Chromium).
    marker = {"size": 4, "symbol": "circle", "color": color, "opacity": 0.8}
    if not correct:
        marker.update(size=6, symbol="diamond", opacity=1.0, line={"color": "black", "width": 1})
    return go.Scatter3d(
        x=[r["x"] for r in points],
        y=[r["y"] for r in points],
        z=[r["z"] for r in points],
        mode="markers",
        marker=marker,
        legendgroup=name,
        showlegend=showlegend,
        name=name,
        customdata=[
            [r.get("tags") or r["label"], r["predicted"], _hover_text(r["text"])] for r in points
        ],
        hovertemplate=(
            "<b>true: %{customdata[0]}</b><br>predicted: %{customdata[1]}<br>"
            "%{customdata[2]}<extra></extra>"
        ),
    )
