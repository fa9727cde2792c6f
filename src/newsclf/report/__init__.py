"""What a run shows besides its model: the pictures (`figures`: training curves and confusion
matrix PNGs, the Plotly t-SNE scatter), the t-SNE of [CLS] embeddings (`tsne`), the classical
baseline (`baseline`), the one-page report (`page`), and writing them all for a run
(`outputs`).
"""

from newsclf.report.baseline import BASELINE_NAME, Baseline, fit_baseline
from newsclf.report.figures import plot_run
from newsclf.report.outputs import report_run, write_visuals
from newsclf.report.page import ReportContent, render_report
from newsclf.report.tsne import embed_run

__all__ = [
    "BASELINE_NAME",
    "Baseline",
    "ReportContent",
    "embed_run",
    "fit_baseline",
    "plot_run",
    "render_report",
    "report_run",
    "write_visuals",
]
