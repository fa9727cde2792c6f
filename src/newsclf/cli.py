"""The `newsclf` command. It parses arguments and calls the library; the work lives elsewhere.

Heavy libraries (torch, transformers) are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from newsclf.config import TrainConfig
from newsclf.errors import NewsclfError
from newsclf.serve_options import PRECISIONS, ServeOptions


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (NewsclfError, FileNotFoundError) as err:
        print(f"newsclf {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; nothing half-written was kept.", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsclf",
        description="Fine-tune transformer encoders for text classification (AG News by default).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)
    _visual_parsers(sub)
    _serve_parser(sub)
    return parser


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune, keep the best epoch, evaluate on test, write runs/<name>/",
        description="Fine-tune a model. Flags override values from --config; defaults train the "
        "packaged all-MiniLM-L6-v2 encoder on the bundled AG News rows.",
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="YAML file of config values (flags win)")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        _add_field(p, f, getattr(defaults, f.name))
    p.set_defaults(func=_cmd_train)


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, default: object) -> None:
    flag = "--" + f.name.replace("_", "-")
    help_text = f"{f.metadata.get('help', '')} (default: {default})"
    kind = str(f.type)
    if kind == "bool":
        p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
    elif kind.startswith("list[str]"):
        p.add_argument(
            flag,
            type=lambda s: [x.strip() for x in s.split(",")],
            help=help_text + "; comma-separated",
        )
    else:
        cast = {"int": int, "float": float}.get(kind.split(" |")[0], str)
        p.add_argument(flag, type=cast, metavar=f.name.upper(), help=help_text)


def _cmd_train(args: argparse.Namespace) -> int:
    from newsclf.train import train

    overrides = {k: v for k, v in vars(args).items() if k not in ("config", "func", "command")}
    if getattr(args, "config", None):
        cfg = TrainConfig.from_yaml(args.config, **overrides)
    else:
        cfg = TrainConfig.from_dict(overrides)
    train(cfg)
    return 0


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, per-class table and confusion matrix of a run or model",
        description="Score a run's best model (or any model dir) and write <run>/test_metrics.json.",
    )
    p.add_argument("path", metavar="RUN_OR_MODEL_DIR")
    p.add_argument(
        "--data", help="data to score instead of the run's own ('ag_news', a file, a Hub id)"
    )
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--output", type=Path, help="where to write the metrics JSON")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from newsclf.evaluate import evaluate, format_report

    _quiet_loading()
    metrics = evaluate(args.path, args.data, args.split, args.output, args.batch_size, args.quiet)
    print(format_report(metrics))
    print(f"written to {metrics['written_to']}")
    return 0


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify texts given as arguments, in a file, or on stdin",
        description="Print the label and per-class probabilities of each text.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="a run's best_model/ (or the run dir)")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument(
        "--file", type=Path, help="one text per line, or a CSV/TSV/JSONL file with --column"
    )
    p.add_argument("--column", default="text", help="text column when --file is a table")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--output", type=Path, help="with --file: stream predictions to this CSV (any file size)"
    )
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.output is not None:
        return _cmd_predict_to_file(args)
    from newsclf.predict import Classifier, read_texts

    texts = list(args.texts)
    if args.file:
        texts += read_texts(args.file, args.column)
    if not texts and not sys.stdin.isatty():
        texts = [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        raise NewsclfError(
            "no text to classify: pass TEXT arguments, --file FILE, or pipe lines on stdin."
        )
    _quiet_loading()
    classifier = Classifier.from_pretrained(args.model)
    for text, pred in zip(
        texts, classifier.predict(texts, batch_size=args.batch_size), strict=True
    ):
        if args.json:
            print(json.dumps({"text": text, **pred.to_dict()}))
        else:
            probs = "  ".join(f"{k} {v:.3f}" for k, v in pred.probabilities.items())
            print(f"{pred.label}\t{pred.score:.3f}\t[{probs}]\t{text}")
    return 0


def _cmd_predict_to_file(args: argparse.Namespace) -> int:
    from newsclf.batch_predict import predict_file
    from newsclf.predict import Classifier

    if args.file is None or args.texts:
        raise NewsclfError(
            "--output writes the predictions for --file: pass --file FILE (and no TEXT arguments)."
        )
    _quiet_loading()
    classifier = Classifier.from_pretrained(args.model)
    done = predict_file(classifier, args.file, args.output, args.column, args.batch_size)
    print(
        f"wrote {done.rows_written:,} predictions to {done.output}"
        + (f" (skipped {done.skipped_empty:,} empty rows)" if done.skipped_empty else "")
    )
    return 0


def _quiet_loading() -> None:
    """transformers draws a progress bar for loading weights; in a one-shot command it is noise."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _visual_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="training curves (and confusion matrix) PNGs of a run")
    p.add_argument("run", type=Path, metavar="RUN")
    p.set_defaults(func=_cmd_plot)
    p = sub.add_parser("embed", help="3D t-SNE of a run's [CLS] embeddings (HTML + CSV)")
    p.add_argument("run", type=Path, metavar="RUN")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--max-points", type=int, default=2000)
    p.set_defaults(func=_cmd_embed)
    p = sub.add_parser("report", help="the one-page HTML report of a run")
    p.add_argument("run", type=Path, metavar="RUN")
    p.set_defaults(func=_cmd_report)


def _cmd_plot(args: argparse.Namespace) -> int:
    from newsclf.visualize import plot_run

    for path in plot_run(args.run):
        print(f"wrote {path}")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from newsclf.visualize import embed_run

    print(f"wrote {embed_run(args.run, split=args.split, max_points=args.max_points)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from newsclf.visualize import report_run

    print(f"wrote {report_run(args.run)}")
    return 0


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model over HTTP: a web page at /, POST /predict, /metrics",
        description="Serve a model with FastAPI on 127.0.0.1: a page to try it at /, "
        'POST /predict {"texts": [...]}, GET /labels, /health, /metrics; docs at /docs. '
        "Concurrent requests are batched together. SIGTERM finishes requests in flight.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL_DIR", help="a run's best_model/ (or the run dir)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    for f in dataclasses.fields(ServeOptions):
        kind = {"int": int, "float": float}.get(str(f.type), str)
        choices = PRECISIONS if f.name == "precision" else None
        p.add_argument(
            "--" + f.name.replace("_", "-"), type=kind, default=f.default, choices=choices,
            help=f.metadata["help"],
        )  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from newsclf.serve import serve

    _quiet_loading()
    names = [f.name for f in dataclasses.fields(ServeOptions)]
    options = ServeOptions(**{name: getattr(args, name) for name in names})
    serve(args.model, args.host, args.port, options, access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
