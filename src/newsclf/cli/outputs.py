"""`newsclf plot|embed|report`, `newsclf serve` and `newsclf export`: the flags, and the calls
into the library."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from newsclf.cli.common import MODEL_HELP, loading_quietly, with_default
from newsclf.precision import SERVE_PRECISIONS
from newsclf.serve.options import ServeOptions


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _visual_parsers(sub)
    _serve_parser(sub)
    _export_parser(sub)


def _visual_parsers(sub: argparse._SubParsersAction) -> None:
    run_help = "a run directory (runs/NAME)"
    splits = ["train", "validation", "test"]
    p = sub.add_parser(
        "plot",
        help="training curves (and confusion matrix) PNGs of a run",
        description="Draw a run's training_progress.png from its history.json, and its "
        "confusion_matrix.png (and reliability diagram) from test_metrics.json, into the run.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help=run_help)
    p.set_defaults(func=_cmd_plot)
    p = sub.add_parser("embed", help="3D t-SNE of a run's [CLS] embeddings (HTML + CSV)")
    p.add_argument("run", type=Path, metavar="RUN", help=run_help)
    p.add_argument(
        "--split", default="test", choices=splits, help="the split to embed (default: test)"
    )
    p.add_argument(
        "--max-points",
        type=int,
        default=2000,
        metavar="N",
        help="texts to embed at most, a stratified sample of the split (default: 2000)",
    )
    p.set_defaults(func=_cmd_embed)
    p = sub.add_parser(
        "report",
        help="the one-page HTML report of a run",
        description="Write a run's report.html: config, data, training history, curves, test "
        "metrics, confusion matrix, t-SNE, sample predictions and the TF-IDF + linear SVM "
        "baseline on the same rows. One file that opens offline.",
    )
    p.add_argument("run", type=Path, metavar="RUN", help=run_help)
    p.set_defaults(func=_cmd_report)


def _cmd_plot(args: argparse.Namespace) -> int:
    from newsclf.report import plot_run

    for path in plot_run(args.run):
        print(f"wrote {path}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from newsclf.report import embed_run

    print(f"wrote {embed_run(args.run, split=args.split, max_points=args.max_points)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from newsclf.report import report_run

    print(f"wrote {report_run(args.run)}")
    return 0


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model over HTTP: a web page at /, POST /predict, /metrics",
        description="Serve a model with FastAPI on 127.0.0.1: a page to try it at /, "
        'POST /predict {"texts": [...]}, GET /labels, /health, /metrics; docs at /docs. '
        "Concurrent requests are batched together. SIGTERM finishes requests in flight.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help=MODEL_HELP)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="0.0.0.0 exposes it to the network (pass --api-key then, behind a TLS proxy) "
        "(default: 127.0.0.1)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    for f in dataclasses.fields(ServeOptions):
        kind = {"int": int, "float": float, "float | None": float}.get(str(f.type), str)
        choices = SERVE_PRECISIONS if f.name == "precision" else None
        p.add_argument(
            "--" + f.name.replace("_", "-"), type=kind, default=f.default, choices=choices,
            help=with_default(f.metadata["help"], f.default).replace("%", "%%"),
        )  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from newsclf.serve.app import serve

    names = [f.name for f in dataclasses.fields(ServeOptions)]
    options = ServeOptions(**{name: getattr(args, name) for name in names})
    with loading_quietly(args.model):
        serve(args.model, args.host, args.port, options, access_log=not args.no_access_log)
    return 0


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX (optionally int8) for ONNX Runtime",
        description="Write OUT_DIR: model.onnx (dynamic batch and sequence axes), the tokenizer, "
        "config.json with the class names and a README showing how to run it with onnxruntime "
        "and tokenizers alone. newsclf predict/evaluate/serve accept OUT_DIR like any model.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="a run's best_model/ (or the run dir)")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="directory to create")
    p.add_argument(
        "--int8",
        action="store_true",
        help="int8 weights (ONNX Runtime dynamic quantization, per channel)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT_DIR")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from newsclf.export import export

    info = export(args.model, args.out, int8=args.int8, overwrite=args.overwrite)
    print(
        f"exported {info['weights']} ONNX model ({info['size_bytes'] / 1e6:.1f} MB; largest "
        f"probability gap to PyTorch on sample texts {info['max_abs_prob_diff_vs_pytorch']:.1e}) "
        f"to {info['written_to']}"
    )
    return 0
