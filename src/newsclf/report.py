"""The one-page run report (report.html) and the classical baseline it is compared with.

The baseline is TF-IDF over word 1-2 grams with a linear SVM, fitted on the same training rows
as the transformer and scored on the same test rows, so the report can show what the transformer
buys (accuracy) and what it costs (training seconds). The page is a single file: images are
base64 PNGs and the t-SNE plot is inlined with plotly.js, so it opens offline and can be sent.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import string
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import visualize as viz
from newsclf.errors import DataError

if TYPE_CHECKING:
    from newsclf.config import TrainConfig

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
BASELINE_JSON = "baseline_metrics.json"
BASELINE_NAME = "TF-IDF (word 1-2 grams) + LinearSVC"


# ----------------------------------------------------------------------------- baseline


def fit_baseline(
    train_texts: list[str],
    train_labels: list[int],
    test_texts: list[str],
    test_labels: list[int],
    label_names: list[str],
    seed: int = 42,
) -> tuple[dict[str, Any], Any]:
    """Fit TF-IDF + LinearSVC on train, score on test; return (metrics, fitted pipeline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from newsclf.evaluate import compute_metrics

    if len(set(train_labels)) < 2:
        raise DataError(
            "The baseline needs at least 2 classes in the training rows, "
            f"got {sorted(set(train_labels))}."
        )
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LinearSVC(random_state=seed),
    )
    start = time.perf_counter()
    pipeline.fit(train_texts, train_labels)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = pipeline.predict(test_texts)
    predict_seconds = time.perf_counter() - start
    metrics = {
        "model": BASELINE_NAME,
        "train_rows": len(train_texts),
        "test_rows": len(test_texts),
        "features": len(pipeline[0].vocabulary_),
        "train_seconds": round(train_seconds, 3),
        "predict_seconds": round(predict_seconds, 3),
        **compute_metrics(test_labels, predicted, label_names),
    }
    return metrics, pipeline


def write_baseline(run_dir: Path, data: Any, seed: int = 42) -> tuple[dict[str, Any], Any]:
    """Fit the baseline on train, score it on test, save baseline_metrics.json."""
    train, test = data.splits["train"], data.splits["test"]
    metrics, pipeline = fit_baseline(
        train["text"], train["label"], test["text"], test["label"], list(data.label_names), seed
    )
    path = Path(run_dir) / BASELINE_JSON
    path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics, pipeline


# ----------------------------------------------------------------------------- HTML pieces


def esc(value: Any) -> str:
    return html.escape(str(value))


def table(headers: list[str], rows: list[list[Any]], numeric_from: int = 1) -> str:
    """An HTML table; cells are escaped, columns from `numeric_from` on are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if j >= numeric_from else ""}">{esc(c)}</td>'
            for j, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note(html_text: str) -> str:
    """A grey remark; `html_text` is trusted markup (callers escape what came from data)."""
    return f'<p class="note">{html_text}</p>'


def png_tag(path: Path, alt: str) -> str:
    if not path.is_file():
        return note(f"{esc(path.name)} is missing: run <code>newsclf plot RUN</code>.")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def secs(x: float | None) -> str:
    return "–" if x is None else f"{x:,.1f} s"


def comparison_section(
    history: dict[str, Any],
    metrics: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    model: str,
) -> str:
    train_seconds = sum(e.get("seconds") or 0.0 for e in history["epochs"])
    rows = [
        [
            f"Transformer ({model})",
            pct(metrics and metrics["accuracy"]),
            pct(metrics and metrics["macro_f1"]),
            secs(train_seconds),
            secs(metrics and metrics.get("seconds")),
        ]
    ]
    if baseline:
        rows.append(
            [
                baseline["model"],
                pct(baseline["accuracy"]),
                pct(baseline["macro_f1"]),
                secs(baseline["train_seconds"]),
                secs(baseline["predict_seconds"]),
            ]
        )
    out = table(
        ["model", "test accuracy", "test macro F1", "training time", "test prediction time"], rows
    )
    if baseline and metrics:
        gain = metrics["accuracy"] - baseline["accuracy"]
        ratio = train_seconds / max(baseline["train_seconds"], 1e-3)
        out += (
            f'<p class="verdict">The transformer is <b>{abs(gain) * 100:.1f} accuracy points '
            f"{'better' if gain >= 0 else 'worse'}</b> than the baseline, for "
            f"<b>{ratio:,.0f}×</b> its training time. "
            f"Both were trained on the same {baseline['train_rows']:,} rows and scored on the same "
            f"{baseline['test_rows']:,} test rows (baseline vocabulary: {baseline['features']:,} "
            "features). Training time of the transformer: the sum of its epoch times in "
            "history.json.</p>"
        )
    return out


def history_section(run_dir: Path, history: dict[str, Any]) -> str:
    best = history.get("best_epoch")
    rows = [
        [
            f"{e['epoch']}{' ★' if e['epoch'] == best else ''}",
            _num(e.get("train_loss")),
            _num(e.get("val_loss")),
            pct(e.get("val_accuracy")),
            pct(e.get("val_f1")),
            _num(e.get("learning_rate"), "{:.2e}"),
            secs(e.get("seconds")),
        ]
        for e in history["epochs"]
    ]
    headers = ["epoch", "train loss", "val loss", "val accuracy", "val F1", "learning rate", "time"]
    return png_tag(run_dir / viz.PROGRESS_PNG, viz.PROGRESS_TITLE) + table(headers, rows)


def _num(x: float | None, fmt: str = "{:.4f}") -> str:
    return "–" if x is None else fmt.format(x)


def metrics_section(
    run_dir: Path, metrics: dict[str, Any] | None, baseline: dict[str, Any] | None
) -> str:
    if metrics is None:
        return note("No test_metrics.json: score the run with <code>newsclf evaluate RUN</code>.")
    base = (baseline or {}).get("per_class", {})
    rows = [
        [
            name,
            _num(m["precision"]),
            _num(m["recall"]),
            _num(m["f1"]),
            _num(base.get(name, {}).get("f1")),
            m["support"],
        ]
        for name, m in metrics["per_class"].items()
    ]
    headers = ["class", "precision", "recall", "F1", "baseline F1", "support"]
    summary = (
        f"<p>{metrics['num_samples']:,} test texts · accuracy <b>{pct(metrics['accuracy'])}</b> · "
        f"macro F1 <b>{pct(metrics['macro_f1'])}</b></p>"
    )
    return (
        summary + table(headers, rows) + png_tag(run_dir / viz.CONFUSION_PNG, viz.CONFUSION_TITLE)
    )


def tsne_section(run_dir: Path, label_names: list[str]) -> str:
    csv_path = run_dir / viz.TSNE_CSV
    if not csv_path.is_file():
        return note(
            "No t-SNE yet: run <code>newsclf embed RUN</code>, then <code>newsclf report</code>."
        )
    fig = viz.tsne_figure(viz.read_tsne_csv(csv_path), label_names)
    # Inline plotly.js so the report stays one file that works offline.
    div = fig.to_html(full_html=False, include_plotlyjs=True, div_id="tsne3d")
    return div + note(f'Also on its own page: <a href="{viz.TSNE_HTML}">{viz.TSNE_HTML}</a>.')


def samples_section(metrics: dict[str, Any] | None, pipeline: Any, label_names: list[str]) -> str:
    samples = (metrics or {}).get("samples") or []
    if not samples:
        return note("No sample predictions in test_metrics.json.")
    base = pipeline.predict([s["text"] for s in samples]) if pipeline is not None else None
    rows = [
        [
            viz.shorten(s["text"], 220),
            s["label"],
            ("✓ " if s["predicted"] == s["label"] else "✗ ") + s["predicted"],
            pct(s.get("confidence")),
            "–" if base is None else label_names[int(base[i])],
        ]
        for i, s in enumerate(samples)
    ]
    return table(["text", "true", "transformer", "confidence", "baseline"], rows, numeric_from=3)


def data_section(data: Any) -> str:
    summary = data.summary()
    names, skipped = summary["label_names"], summary.get("skipped_empty") or {}
    rows = [
        [
            split,
            f"{s['rows']:,}",
            *(f"{s['class_counts'][n]:,}" for n in names),
            skipped.get(split, 0),
        ]
        for split, s in summary["splits"].items()
    ]
    source = note(f"Source: {esc(summary.get('source', '?'))}.")
    return table(["split", "rows", *names, "empty texts skipped"], rows) + source


def config_section(config: TrainConfig) -> str:
    rows = [[key, json.dumps(value)] for key, value in config.to_dict().items()]
    return table(["key", "value"], rows, numeric_from=99)


# ----------------------------------------------------------------------------- the page


def render_report(
    run_dir: Path,
    data: Any,
    config: TrainConfig,
    baseline: dict[str, Any] | None,
    pipeline: Any = None,
) -> str:
    """The report page as a string, from the files in `run_dir` plus the loaded data."""
    run_dir = Path(run_dir)
    history = viz.read_history(run_dir)
    metrics_path = run_dir / "test_metrics.json"
    metrics = None
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    names = list(data.label_names)
    template = string.Template(
        resources.files("newsclf").joinpath("templates/report.html").read_text(encoding="utf-8")
    )
    return template.substitute(
        # config.name, not run_dir.name: train writes into a staging directory, then renames it.
        title=esc(f"newsclf run report: {config.name}"),
        run_name=esc(config.name),
        subtitle=esc(
            f"model {config.model} · data {config.data} · {len(names)} classes · seed {config.seed}"
        ),
        comparison=comparison_section(history, metrics, baseline, config.model),
        history=history_section(run_dir, history),
        test=metrics_section(run_dir, metrics, baseline),
        tsne=tsne_section(run_dir, names),
        samples=samples_section(metrics, pipeline, names),
        data=data_section(data),
        config=config_section(config),
        generated=esc(time.strftime("%Y-%m-%d %H:%M:%S %Z")),
    )


def write_report(run_dir: Path, data: Any, config: TrainConfig) -> list[Path]:
    """Fit and save the baseline, then write report.html; returns the paths written."""
    run_dir = Path(run_dir)
    written: list[Path] = []
    try:
        baseline, pipeline = write_baseline(run_dir, data, seed=config.seed)
        written.append(run_dir / BASELINE_JSON)
    except ValueError as err:  # e.g. a one-class training set: report without the baseline
        log.warning("Skipped the TF-IDF baseline: %s", err)
        baseline, pipeline = None, None
    path = run_dir / REPORT_HTML
    path.write_text(render_report(run_dir, data, config, baseline, pipeline), encoding="utf-8")
    return [*written, path]


def report_run(run_dir: Path) -> Path:
    """`newsclf report RUN`: (re)draw missing plots, fit the baseline, write report.html."""
    from newsclf.config import TrainConfig
    from newsclf.data import load_data

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        viz.read_history(run_dir)  # says clearly when run_dir is not a run at all
        raise FileNotFoundError(
            f"{run_dir} has no config.yaml: is it a newsclf run directory? "
            f"Train one with `newsclf train --name {run_dir.name}`."
        )
    missing = not (run_dir / viz.PROGRESS_PNG).is_file() or (
        (run_dir / "test_metrics.json").is_file() and not (run_dir / viz.CONFUSION_PNG).is_file()
    )
    if missing:
        viz.plot_run(run_dir)
    config = TrainConfig.from_yaml(config_path)
    return write_report(run_dir, load_data(config), config)[-1]
