"""Everything a run shows besides its model: the PNGs, the t-SNE page, the TF-IDF baseline and
report.html. Written after training from what training holds in memory (`write_visuals`), or
again from a run directory, read once (`report_run`, i.e. `newsclf report RUN`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from newsclf import rundir
from newsclf.data import stratified_sample
from newsclf.report.baseline import fit_baseline
from newsclf.report.explained import explain_mistakes
from newsclf.report.figures import run_pngs, tsne_figure
from newsclf.report.page import ReportContent, render_report
from newsclf.report.tsne import (
    DEFAULT_MAX_POINTS,
    point_labels,
    read_tsne_csv,
    tsne_records,
    write_tsne,
)

if TYPE_CHECKING:
    from plotly.graph_objects import Figure as PlotlyFigure

    from newsclf.config import TrainConfig
    from newsclf.data import LoadedData
    from newsclf.inference import Inference

log = logging.getLogger(__name__)
T = TypeVar("T")


def write_visuals(
    run_dir: Path,
    data: LoadedData,
    test_inference: Inference,
    config: TrainConfig,
    history: dict[str, Any],
    metrics: dict[str, Any],
    thresholds: dict[str, Any] | None = None,
) -> list[Path]:
    """Called by `train` at the end: curves, confusion matrix (multi-label: co-occurrence and
    threshold curve), t-SNE, baseline and report.

    `test_inference` holds probabilities, predictions and embeddings for every row of
    `data.splits["test"]`, in order, so nothing here runs the transformer again; `history`,
    `metrics` and `thresholds` are what train just wrote, so nothing here reads them back.
    """
    run_dir = Path(run_dir)
    summary = data.summary()
    pngs = (
        _attempt(
            "plot", config, lambda: _write_pngs(run_dir, history, metrics, summary, thresholds)
        )
        or {}
    )
    written = [run_dir / name for name in pngs]
    tsne = _attempt("embed", config, lambda: _tsne_of_test(run_dir, data, test_inference, config))
    tsne_figure, tsne_files = tsne if tsne is not None else (None, [])
    written += tsne_files
    content = ReportContent(config, summary, history, metrics, pngs=pngs, tsne=tsne_figure)
    explained = _attempt("report", config, lambda: _explain_mistakes(run_dir, data, test_inference))
    if explained:
        content.explanations, path = explained
        written.append(path)
    written += (
        _attempt("report", config, lambda: _baseline_and_report(run_dir, data, content)) or []
    )
    return written


def report_run(run_dir: Path, links: dict[str, str] | None = None) -> Path:
    """`newsclf report RUN`: redraw the PNGs, fit the baseline, write report.html.

    Reads the run's files once; the t-SNE comes from embeddings_tsne3d.csv when there is one.
    `links` (title -> relative address) go in the page's navigation, e.g. to the search that
    chose the run."""
    from newsclf.config import TrainConfig
    from newsclf.data import load_data

    run_dir = Path(run_dir)
    history = rundir.read_history(run_dir)  # says clearly when run_dir is not a run at all
    config = TrainConfig.from_yaml(rundir.require(run_dir, rundir.CONFIG_YAML))
    metrics = rundir.read_test_metrics(run_dir)
    thresholds = rundir.read_optional(run_dir, rundir.THRESHOLDS_JSON)
    data = load_data(config)
    summary = data.summary()
    pngs = _write_pngs(run_dir, history, metrics, summary, thresholds)
    content = ReportContent(config, summary, history, metrics, pngs=pngs, links=links or {})
    content.explanations = rundir.read_optional(run_dir, rundir.EXPLANATIONS_JSON) or []
    tsne_csv = run_dir / rundir.TSNE_CSV
    if tsne_csv.is_file():
        content.tsne = tsne_figure(read_tsne_csv(tsne_csv), data.label_names)
    return _baseline_and_report(run_dir, data, content)[-1]


def _write_pngs(
    run_dir: Path,
    history: dict[str, Any],
    metrics: dict[str, Any] | None,
    summary: dict[str, Any],
    thresholds: dict[str, Any] | None,
) -> dict[str, bytes]:
    pngs = run_pngs(history, metrics, summary, thresholds)
    rundir.write_files(run_dir, pngs)
    return pngs


def _attempt(command: str, config: TrainConfig, step: Callable[[], T]) -> T | None:
    try:
        return step()
    except Exception as err:
        # The model is trained and saved by now, and train discards the whole run directory
        # on an error: a picture that fails must not cost the run. Say how to redo it.
        log.warning(
            "Could not write a picture (%s: %s); the run is kept. Retry with "
            "`newsclf %s %s`.", type(err).__name__, err, command, config.run_dir,
        )  # fmt: skip
        return None


def _tsne_of_test(
    run_dir: Path, data: LoadedData, inference: Inference, config: TrainConfig
) -> tuple[PlotlyFigure, list[Path]] | None:
    """The t-SNE page of (a stratified sample of) the test split, from embeddings already made."""
    test, names = data.splits["test"], list(data.label_names)
    if inference.embeddings is None or len(test) < 5:
        log.warning("No test embeddings, or under 5 test rows: skipped the t-SNE page.")
        return None
    true = data.label_matrix("test")
    rows = stratified_sample(true, DEFAULT_MAX_POINTS, seed=config.seed)
    predicted = np.asarray(inference.predicted)[rows]
    shown = point_labels(true[rows], predicted, names, data.label_matrix("train").sum(axis=0))
    records = tsne_records(
        np.asarray(inference.embeddings)[rows],
        rows,
        texts=test.select(rows.tolist())["text"],
        seed=config.seed,
        **shown,
    )
    return write_tsne(run_dir, records, names)


def _explain_mistakes(
    run_dir: Path, data: LoadedData, inference: Inference
) -> tuple[list[dict[str, Any]], Path] | None:
    """A few misclassified test texts explained, written to explanations.json (nothing for a
    multi-label run, or without a saved best model)."""
    model_dir = run_dir / rundir.BEST_MODEL
    if data.multi_label or not model_dir.is_dir():
        return None
    texts = data.splits["test"]["text"]
    found = explain_mistakes(model_dir, texts, data.label_matrix("test"), inference,
                             data.label_names)  # fmt: skip
    return (found, rundir.write_json(run_dir / rundir.EXPLANATIONS_JSON, found)) if found else None


def _baseline_and_report(run_dir: Path, data: LoadedData, content: ReportContent) -> list[Path]:
    """Fit and save the baseline (if the data allow one), then write report.html."""
    train, test = data.splits["train"], data.splits["test"]
    written: list[Path] = []
    try:
        baseline = fit_baseline(
            train["text"], train["label"], test["text"], test["label"], data.label_names,
            seed=content.config.seed,
        )  # fmt: skip
    except ValueError as err:  # e.g. a one-class training set: report without the baseline
        log.warning("Skipped the TF-IDF baseline: %s", err)
    else:
        written.append(rundir.write_json(run_dir / rundir.BASELINE_JSON, baseline.metrics))
        content.baseline = baseline.metrics
        samples = (content.metrics or {}).get("samples") or []
        if samples:
            content.baseline_samples = baseline.predict([s["text"] for s in samples])
    path = run_dir / rundir.REPORT_HTML
    path.write_text(render_report(content), encoding="utf-8")
    return [*written, path]
