"""The one-page run report (report.html), rendered from what the caller passes in.

The page is templates/report.html.j2, rendered by Jinja2 with autoescaping on, so texts and
names from the data can never become markup. It is a single file: the PNGs are inlined as
base64 and the t-SNE plot with plotly.js, so it opens offline and can be sent on its own.
Gathering the inputs (after training, or from a run directory) is `newsclf.report.outputs`' job.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.evaluation.calibration import calibration_words
from newsclf.evaluation.metrics import threshold_text
from newsclf.reading import summary_line
from newsclf.report.explained import shaded_words
from newsclf.report.figures import PNG_TITLES, shorten
from newsclf.task import MULTI_LABEL, SINGLE_LABEL

if TYPE_CHECKING:
    from plotly.graph_objects import Figure as PlotlyFigure

    from newsclf.config import TrainConfig

NONE = "–"


@dataclass
class ReportContent:
    config: TrainConfig
    data_summary: dict[str, Any]  # LoadedData.summary(): rows and class counts per split
    history: dict[str, Any]  # history.json
    metrics: dict[str, Any] | None = None  # test_metrics.json; None if never scored
    baseline: dict[str, Any] | None = None  # baseline_metrics.json; None if it could not be fit
    baseline_samples: list[str] | None = None  # the baseline's class for each metrics["samples"]
    pngs: dict[str, bytes] = field(default_factory=dict)  # run_pngs()
    tsne: PlotlyFigure | None = None  # tsne_figure()
    links: dict[str, str] = field(default_factory=dict)  # title -> relative address
    explanations: list[dict[str, Any]] = field(default_factory=list)  # explanations.json


def render_report(content: ReportContent) -> str:
    """The report page as a string."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("newsclf", "templates"),
        autoescape=True,  # on for every template, whatever its file name ends with
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2").render(_context(content))


# The two test metrics the comparison and the test section lead with, per task.
HEADLINES = {
    SINGLE_LABEL: (("accuracy", "accuracy"), ("macro_f1", "macro F1")),
    MULTI_LABEL: (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1")),
}


def _context(c: ReportContent) -> dict[str, Any]:
    tsne_div = None
    if c.tsne is not None:
        # Inline plotly.js so the report stays one file that works offline.
        tsne_div = c.tsne.to_html(full_html=False, include_plotlyjs=True, div_id="tsne3d")
    task = c.data_summary.get("task", SINGLE_LABEL)
    headline = HEADLINES[task]
    n = len(c.data_summary["label_names"])
    return {
        "config": c.config,
        "classes": f"{n} tags" if task == MULTI_LABEL else f"{n} classes",
        "comparison": _comparison(c.history, c.metrics, c.baseline, c.config.model, headline),
        "history": _history(c.history),
        "test": _test(c.metrics, c.baseline, headline),
        "test_pngs": [rundir.COOCCURRENCE_PNG, rundir.CURVE_PNG]
        if task == MULTI_LABEL
        else [rundir.CONFUSION_PNG],
        "trust": _trust(c.metrics),
        "reliability_png": rundir.RELIABILITY_PNG,
        "sample_rows": _sample_rows(c.metrics, c.baseline_samples),
        "data": _data(c.data_summary),
        "config_rows": [[key, json.dumps(value)] for key, value in c.config.to_dict().items()],
        "pngs": {name: base64.b64encode(png).decode("ascii") for name, png in c.pngs.items()},
        "png_titles": PNG_TITLES,
        "progress_png": rundir.PROGRESS_PNG,
        "tsne_div": tsne_div,
        "tsne_page": rundir.TSNE_HTML,
        "links": c.links,
        "explanations": [{**e, "shaded": shaded_words(e)} for e in c.explanations],
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def pct(x: float | None) -> str:
    return NONE if x is None else f"{x:.2%}"


def secs(x: float | None) -> str:
    return NONE if x is None else f"{x:,.1f} s"


def num(x: float | None, fmt: str = "{:.4f}") -> str:
    return NONE if x is None else fmt.format(x)


def _comparison(
    history: dict[str, Any],
    metrics: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    model: str,
    headline: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    train_seconds = sum(e.get("seconds") or 0.0 for e in history["epochs"])
    (first, first_title), (second, second_title) = headline
    headers = ["model", f"test {first_title}", f"test {second_title}"]
    headers += ["training time", "test prediction time"]
    m = metrics or {}
    rows = [
        [
            f"Transformer ({model})",
            pct(m.get(first)),
            pct(m.get(second)),
            secs(train_seconds),
            secs(m.get("seconds")),
        ]
    ]
    if not baseline:
        return {"headers": headers, "rows": rows, "verdict": None}
    rows.append(
        [
            baseline["model"],
            pct(baseline[first]),
            pct(baseline[second]),
            secs(baseline["train_seconds"]),
            secs(baseline["predict_seconds"]),
        ]
    )
    if not metrics:
        return {"headers": headers, "rows": rows, "verdict": None}
    gain = metrics[first] - baseline[first]
    verdict = {
        "metric": first_title,
        "points": f"{abs(gain) * 100:.1f}",
        "direction": "better" if gain >= 0 else "worse",
        "ratio": f"{train_seconds / max(baseline['train_seconds'], 1e-3):,.0f}",
        "train_rows": f"{baseline['train_rows']:,}",
        "test_rows": f"{baseline['test_rows']:,}",
        "features": f"{baseline['features']:,}",
    }
    return {"headers": headers, "rows": rows, "verdict": verdict}


def _history(history: dict[str, Any]) -> dict[str, Any]:
    """The epochs table: single-label runs show accuracy and macro-F1; multi-label runs their
    F1s, subset accuracy and the threshold tuned each epoch."""
    best = history.get("best_epoch")
    multi = history.get("task") == MULTI_LABEL
    scores = ["val micro-F1", "val macro-F1", "val subset accuracy", "threshold"]
    headers = ["epoch", "train loss", "val loss"]
    headers += scores if multi else ["val accuracy", "val F1"]
    rows = [
        [
            _epoch_label(e, best),
            num(e.get("train_loss")),
            num(e.get("val_loss")),
            *(_multilabel_scores(e["val_metrics"]) if multi else _scores(e)),
            num(e.get("learning_rate"), "{:.2e}"),
            secs(e.get("seconds")),
        ]
        for e in history["epochs"]
    ]
    if history.get("soup"):  # the saved model: the members' best weights averaged
        soup = history["soup"]
        scores = _multilabel_scores(soup["val_metrics"]) if multi else _scores(soup)
        rows.append([f"soup of {len(soup['seeds'])} ★", NONE, num(soup["val_loss"]), *scores,
                     NONE, NONE])  # fmt: skip
    return {"headers": [*headers, "learning rate", "time"], "rows": rows}


def _epoch_label(epoch: dict[str, Any], best: int | None) -> str:
    """The epoch, starred when it is the saved model; a soup's rows name their member."""
    if "member" in epoch:
        return f"member {epoch['member']}, epoch {epoch['epoch']}"
    return f"{epoch['epoch']}{' ★' if epoch['epoch'] == best else ''}"


def _scores(epoch: dict[str, Any]) -> list[str]:
    return [pct(epoch.get("val_accuracy")), pct(epoch.get("val_f1"))]


def _multilabel_scores(m: dict[str, Any]) -> list[str]:
    threshold = threshold_text(m.get("thresholds") or {"all": m.get("threshold")})
    return [num(m["micro_f1"]), num(m["macro_f1"]), pct(m["subset_accuracy"]), threshold]


def _test(
    metrics: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    headline: tuple[tuple[str, str], ...],
) -> dict | None:
    if metrics is None:
        return None
    base = (baseline or {}).get("per_class", {})
    rows = [
        [
            name,
            num(m["precision"]),
            num(m["recall"]),
            num(m["f1"]),
            num(base.get(name, {}).get("f1")),
            m["support"],
        ]
        for name, m in metrics["per_class"].items()
    ]
    scores = [(title, pct(metrics[key])) for key, title in headline]
    if metrics.get("task") == MULTI_LABEL:
        scores += [
            ("samples-F1", pct(metrics["samples_f1"])),
            ("subset accuracy", pct(metrics["subset_accuracy"])),
            ("Hamming loss", num(metrics["hamming_loss"])),
            ("threshold", threshold_text(metrics.get("thresholds"))),
        ]
    if "reading" in metrics:  # how the test texts were read, and how many were long
        scores.append(("texts read", summary_line(metrics["reading"]).removeprefix("reading: ")))
    return {"num_samples": f"{metrics['num_samples']:,}", "scores": scores, "rows": rows}


def _trust(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The calibration's effect on test (ECE and log loss before and after) and accuracy
    against coverage; None for a run scored before they existed."""
    if not metrics or "ece" not in metrics:
        return None
    effect = metrics.get("calibration")
    if effect:
        how = calibration_words(effect)
        rows = [
            ["before calibration", num(effect["before"]["ece"]), num(effect["before"]["log_loss"])],
            [f"calibrated ({how})", num(metrics["ece"]), num(metrics["log_loss"])],
        ]
    else:
        rows = [["not calibrated", num(metrics["ece"]), num(metrics["log_loss"])]]
    coverage = [
        [f"{r['coverage']:.0%}", f"{r['answered']:,}", pct(r["accuracy"]), num(r["min_confidence"])]
        for r in metrics.get("accuracy_coverage") or []
        if r["answered"]
    ]
    what = "subset accuracy" if metrics.get("task") == MULTI_LABEL else "accuracy"
    return {"rows": rows, "coverage": coverage, "what": what}


def _sample_rows(
    metrics: dict[str, Any] | None, baseline_samples: list[str] | None
) -> list[list[str]]:
    samples = (metrics or {}).get("samples") or []
    return [
        [
            shorten(s["text"], 220),
            s["label"],
            ("✓ " if s["predicted"] == s["label"] else "✗ ") + s["predicted"],
            pct(s.get("confidence")),
            baseline_samples[i] if baseline_samples else NONE,
        ]
        for i, s in enumerate(samples)
    ]


def _data(summary: dict[str, Any]) -> dict[str, Any]:
    names, skipped = summary["label_names"], summary.get("skipped_empty") or {}
    multi = summary.get("task") == MULTI_LABEL
    tags = ["tags per row", "rows without a tag"] if multi else []
    rows = [
        [
            split,
            f"{s['rows']:,}",
            *(f"{s['class_counts'][n]:,}" for n in names),
            *([f"{s['label_cardinality']:.2f}", f"{s['rows_without_labels']:,}"] if multi else []),
            skipped.get(split, 0),
        ]
        for split, s in summary["splits"].items()
    ]
    return {
        "headers": ["split", "rows", *names, *tags, "empty texts skipped"],
        "rows": rows,
        "source": summary.get("source", "?"),
    }
