"""The `newsclf` command. It parses arguments and calls the library; the work lives elsewhere.

Heavy libraries (torch, transformers) are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import NoReturn

from newsclf.config import TrainConfig
from newsclf.errors import NewsclfError
from newsclf.model_dir import is_onnx_dir
from newsclf.precision import SERVE_PRECISIONS
from newsclf.quiet import quiet_libraries
from newsclf.serve.options import ServeOptions

# Each backend has its measured default (docs/performance.md).
MODEL_HELP = "a run's best_model/ (or the run dir), or a directory written by newsclf export"
BATCH_HELP = "texts per batch (default: 32 on a CPU, 256 on a GPU, 32 on ONNX Runtime)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed as one line
        return 0 if done.code is None else done.code if isinstance(done.code, int) else 2
    try:
        code = args.func(args) or 0
        from newsclf.distributed import finish

        finish()  # under `accelerate launch`: every process done before the group closes
        return code
    except NewsclfError as err:
        _error(args.command, str(err))
    except OSError as err:  # a path the checks did not foresee: still one line, no traceback
        where = f": {err.filename}" if err.filename else ""
        _error(args.command, f"{err.strerror or err}{where}. Check the path and its permissions.")
    except KeyboardInterrupt:
        print("\ninterrupted; nothing half-written was kept.", file=sys.stderr)
        return 130
    return 2


def _error(command: str, message: str) -> None:
    """Every error is one line on stderr (the exit code is 2)."""
    print(f"newsclf {command}: error: {' '.join(message.splitlines())}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the bad argument and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. See `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="newsclf",
        description="Fine-tune transformer encoders for text classification (AG News by default).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)
    _visual_parsers(sub)
    _serve_parser(sub)
    _export_parser(sub)
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
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the interrupted run runs/NAME from its last checkpoint, with its saved "
        "config (only --quiet may be added)",
    )
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        _add_field(p, f, getattr(defaults, f.name))
    p.set_defaults(func=_cmd_train)


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, default: object) -> None:
    flag = "--" + f.name.replace("_", "-")
    help_text = f"{f.metadata.get('help', '')} (default: {default})"
    kind = str(f.type)
    if kind in ("bool", "bool | None"):
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
    from newsclf.training import resume, train

    overrides = {
        k: v for k, v in vars(args).items() if k not in ("config", "func", "command", "resume")
    }
    if getattr(args, "resume", None):
        extra = sorted(set(overrides) - {"quiet"}) + (["config"] if "config" in args else [])
        if extra:
            flags = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise NewsclfError(
                f"--resume continues the run with its saved config.yaml; got {flags} too. "
                "Drop them (only --quiet may be added)."
            )
        resume(args.resume, quiet=overrides.get("quiet"))
        return 0
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
    p.add_argument("--batch-size", type=int, help=BATCH_HELP)
    p.add_argument(
        "--label-map",
        metavar="MAP",
        help="rename the data's labels to the model's classes: 'world=World,sci_tech=Sci/Tech' "
        "or a JSON/YAML file; names already match ignoring case and punctuation",
    )
    p.add_argument("--text-column", help="text column(s) of --data, e.g. 'title,description'")
    p.add_argument("--label-column", help="label column of --data")
    p.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        help="whether --data CSV/TSV files start with a header row (default: detected)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (none when not a terminal)"
    )
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from newsclf.evaluation import evaluate, format_report

    with _loading_quietly(args.path):
        metrics = evaluate(
            args.path,
            args.data,
            args.split,
            args.output,
            args.batch_size,
            args.quiet,
            label_map=args.label_map,
            header=args.header,
            text_column=args.text_column,
            label_column=args.label_column,
        )
    if "written_to" not in metrics:  # under `accelerate launch`, the main process reports
        return 0
    for note in metrics["notes"]:
        print(f"Note: {note}")
    print(format_report(metrics))
    print(f"written to {metrics['written_to']}")
    return 0


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify texts given as arguments, in a file, or on stdin",
        description="Print the label and per-class probabilities of each text.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help=MODEL_HELP)
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument(
        "--file", type=Path, help="one text per line, or a CSV/TSV/JSONL file with --column"
    )
    p.add_argument("--column", default="text", help="text column when --file is a table")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--batch-size", type=int, help=BATCH_HELP)
    p.add_argument(
        "--output", type=Path, help="with --file: stream predictions to this CSV (any file size)"
    )
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.output is not None:
        return _cmd_predict_to_file(args)
    from newsclf.config import require_positive
    from newsclf.inference import Classifier, read_texts
    from newsclf.model_dir import find_model_dir
    from newsclf.texts import check_texts

    model_dir = find_model_dir(args.model)
    if args.batch_size is not None:
        require_positive(args.batch_size, "--batch-size")
    texts = check_texts(args.texts, "TEXT argument")
    if args.file:
        texts += read_texts(args.file, args.column)
    if not texts and not sys.stdin.isatty():
        texts = [line.strip() for line in sys.stdin if line.strip()]  # blank lines separate
    if not texts:
        raise NewsclfError(
            "no text to classify: pass TEXT arguments, --file FILE, or pipe lines on stdin."
        )
    with _loading_quietly(model_dir):
        classifier = Classifier.from_pretrained(model_dir)
    for text, pred in zip(
        texts, classifier.predict(texts, batch_size=args.batch_size), strict=True
    ):
        if args.json:
            print(json.dumps({"text": text, **pred.to_dict()}))
            continue
        probs = "  ".join(f"{k} {v:.3f}" for k, v in pred.probabilities.items())
        # Multi-label: the tags at or above their thresholds, joined by '|' ('-' for none).
        answer = "|".join(pred.labels) or "-" if pred.labels is not None else pred.label
        print(f"{answer}\t{pred.score:.3f}\t[{probs}]\t{text}")
    return 0


def _cmd_predict_to_file(args: argparse.Namespace) -> int:
    from newsclf.distributed import process_device
    from newsclf.inference import Classifier, predict_file

    if args.file is None or args.texts:
        raise NewsclfError(
            "--output writes the predictions for --file: pass --file FILE (and no TEXT arguments)."
        )
    with _loading_quietly(args.model):
        classifier = Classifier.from_pretrained(args.model, device=process_device())
    done = predict_file(classifier, args.file, args.output, args.column, args.batch_size)
    if not done.main_process:  # under `accelerate launch`, the main process reports
        return 0
    print(
        f"wrote {done.rows_written:,} predictions to {done.output}"
        + (f" (skipped {done.skipped_empty:,} empty rows)" if done.skipped_empty else "")
    )
    return 0


def _loading_quietly(model: str | Path) -> AbstractContextManager:
    """transformers draws a progress bar for loading weights; in a one-shot command it is noise.
    An ONNX export loads without transformers, so it is not imported for one (0.4 s of start-up)."""
    if is_onnx_dir(model):
        return nullcontext()
    return quiet_libraries("transformers")


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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL_DIR", help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    for f in dataclasses.fields(ServeOptions):
        kind = {"int": int, "float": float}.get(str(f.type), str)
        choices = SERVE_PRECISIONS if f.name == "precision" else None
        p.add_argument(
            "--" + f.name.replace("_", "-"), type=kind, default=f.default, choices=choices,
            help=f.metadata["help"],
        )  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from newsclf.serve.app import serve

    names = [f.name for f in dataclasses.fields(ServeOptions)]
    options = ServeOptions(**{name: getattr(args, name) for name in names})
    with _loading_quietly(args.model):
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


if __name__ == "__main__":
    sys.exit(main())
