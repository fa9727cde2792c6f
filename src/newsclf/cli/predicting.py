"""`newsclf evaluate` and `newsclf predict`: the flags, and the calls into the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf.cli.common import BATCH_HELP, MODEL_HELP, loading_quietly
from newsclf.errors import NewsclfError

if TYPE_CHECKING:
    from newsclf.inference import Prediction

NOT_SURE = "(not sure)"  # what `predict` prints for an answer below --min-confidence


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _evaluate_parser(sub)
    _predict_parser(sub)


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, per-class table and confusion matrix of a run or model",
        description="Score a run's best model (or any model dir) and write <run>/test_metrics.json.",
    )
    p.add_argument(
        "path", metavar="RUN_OR_MODEL_DIR", help="a run directory, its best_model/, or an export"
    )
    p.add_argument(
        "--data", help="data to score instead of the run's own ('ag_news', a file, a Hub id)"
    )
    p.add_argument(
        "--split",
        default="test",
        choices=["train", "validation", "test"],
        help="the split of the run's data (or of --data) to score (default: test)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help="where to write the metrics JSON (default: <run>/<split>_metrics.json; with "
        "--data, <run>/<split>_metrics.<data name>.json)",
    )
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
        "--target-accuracy",
        type=float,
        metavar="ACC",
        help="name the --min-confidence that reaches this accuracy on the validation split "
        "(e.g. 0.97) and the share of the scored split it answers",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (none when not a terminal)"
    )
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from newsclf.evaluation import evaluate, format_report, format_trust

    with loading_quietly(args.path):
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
            target_accuracy=args.target_accuracy,
        )
    if "written_to" not in metrics:  # under `accelerate launch`, the main process reports
        return 0
    for note in metrics["notes"]:
        print(f"Note: {note}")
    print(format_report(metrics))
    print(format_trust(metrics))
    print(f"written to {metrics['written_to']}")
    return 0


def _predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify texts given as arguments, in a file, or on stdin",
        description="Print the label and per-class probabilities of each text.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help=MODEL_HELP)
    p.add_argument(
        "texts",
        nargs="*",
        default=[],
        metavar="TEXT",
        help="texts to classify (else --file, or stdin)",
    )
    p.add_argument(
        "--file", type=Path, help="one text per line, or a CSV/TSV/JSONL file with --column"
    )
    p.add_argument(
        "--column", default="text", help="text column when --file is a table (default: text)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--batch-size", type=int, help=BATCH_HELP)
    p.add_argument(
        "--output", type=Path, help="with --file: stream predictions to this CSV (any file size)"
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="P",
        help="answer only when at least this sure (0 to 1); below it print (not sure), with "
        "the probabilities (docs/trust.md)",
    )
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.output is not None:
        return _cmd_predict_to_file(args)
    from newsclf.config import require_positive
    from newsclf.inference import Classifier, read_texts
    from newsclf.inference.abstention import check_min_confidence
    from newsclf.model_dir import find_model_dir
    from newsclf.reading import summary_line
    from newsclf.texts import check_texts

    model_dir = find_model_dir(args.model)
    if args.batch_size is not None:
        require_positive(args.batch_size, "--batch-size")
    check_min_confidence(args.min_confidence, "--min-confidence")
    texts = check_texts(args.texts, "TEXT argument")
    if args.file:
        texts += read_texts(args.file, args.column)
    if not texts and not sys.stdin.isatty():
        texts = [line.strip() for line in sys.stdin if line.strip()]  # blank lines separate
    if not texts:
        raise NewsclfError(
            "no text to classify: pass TEXT arguments, --file FILE, or pipe lines on stdin."
        )
    with loading_quietly(model_dir):
        classifier = Classifier.from_pretrained(model_dir)
    summary = classifier.reading_summary(texts)
    if summary["longer_than_max_length"]:  # said on stderr: stdout stays the answers
        print(f"Note: {summary_line(summary)}", file=sys.stderr)
    predictions = classifier.predict(texts, args.batch_size, args.min_confidence)
    for text, pred in zip(texts, predictions, strict=True):
        if args.json:
            print(json.dumps({"text": text, **pred.to_dict()}))
            continue
        probs = "  ".join(f"{k} {v:.3f}" for k, v in pred.probabilities.items())
        print(f"{_answer(pred)}\t{pred.score:.3f}\t[{probs}]\t{text}")
    return 0


def _answer(pred: Prediction) -> str:
    """The label; a multi-label model's tags joined by '|' ('-' for none); (not sure) when the
    answer abstained."""
    if pred.abstained:
        return NOT_SURE
    return "|".join(pred.labels) or "-" if pred.labels is not None else str(pred.label)


def _cmd_predict_to_file(args: argparse.Namespace) -> int:
    from newsclf.distributed import process_device
    from newsclf.inference import Classifier, predict_file

    if args.file is None or args.texts:
        raise NewsclfError(
            "--output writes the predictions for --file: pass --file FILE (and no TEXT arguments)."
        )
    if args.min_confidence is not None:
        raise NewsclfError(
            "--min-confidence with --output: the CSV holds every class's probability (p_<class>) "
            "and the score; keep the rows whose score reaches it, or drop --output."
        )
    with loading_quietly(args.model):
        classifier = Classifier.from_pretrained(args.model, device=process_device())
    done = predict_file(classifier, args.file, args.output, args.column, args.batch_size)
    if not done.main_process:  # under `accelerate launch`, the main process reports
        return 0
    print(f"Note: {classifier.reading.describe()}, as the model was trained")
    print(
        f"wrote {done.rows_written:,} predictions to {done.output}"
        + (f" (skipped {done.skipped_empty:,} empty rows)" if done.skipped_empty else "")
    )
    return 0
