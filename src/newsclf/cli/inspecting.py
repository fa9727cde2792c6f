"""`newsclf audit` and `newsclf explain`: the flags, and the calls into the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from newsclf.cli.common import MODEL_HELP, add_config_flags, loading_quietly
from newsclf.errors import NewsclfError

# The data flags of `newsclf train` that `newsclf audit` takes.
DATA_FLAGS = (
    "data", "validation_data", "test_data", "text_column", "label_column", "task", "label_sep",
    "label_columns", "label_names", "encoding", "header", "seed", "quiet",
)  # fmt: skip
# Terminal colours for a word's score: towards the class (green) or away from it (red), in
# three strengths (256-colour backgrounds).
TOWARDS = (194, 157, 120)
AWAY = (224, 217, 210)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _audit_parser(sub)
    _explain_parser(sub)


def _audit_parser(sub: argparse._SubParsersAction) -> None:
    from newsclf.audit.crossfit import DEFAULT_FOLDS, DEFAULT_METHOD, METHODS

    p = sub.add_parser(
        "audit",
        help="likely label errors and duplicate rows in a dataset (writes audit/)",
        description="Find likely label errors (confident learning on cross-fitted, out-of-sample "
        "probabilities) and exact or near-exact duplicates within and across splits. Writes "
        "label_issues.csv, duplicates.csv, summary.json and report.html.",
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--output", type=Path, default=Path("audit"), help="directory to write")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="how the out-of-sample probabilities are made (docs/audit.md)")  # fmt: skip
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="cross-fitting folds")
    p.add_argument("--encoder", help="encoder for --method embeddings/both (default: the "
                   "packaged all-MiniLM-L6-v2)")  # fmt: skip
    add_config_flags(p, only=DATA_FLAGS)
    p.set_defaults(func=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    from newsclf.audit import audit
    from newsclf.config import TrainConfig

    cfg = TrainConfig.from_dict({k: getattr(args, k) for k in DATA_FLAGS if hasattr(args, k)})
    result = audit(cfg, args.output, args.method, args.folds, getattr(args, "encoder", None))
    s = result.summary
    rows = ", ".join(f"{split} {n:,}" for split, n in s["rows"].items())
    dup = s["duplicates"]
    print(f"Audited {rows} rows ({s['probabilities']['method']}, {s['probabilities']['folds']} "
          f"folds, {s['seconds']['total']:.0f}s)")  # fmt: skip
    print(f"likely label errors: {s['label_issues']:,} ({s['label_issue_share']:.1%})")
    print(f"duplicate groups: {dup['groups']:,} ({dup['groups_across_splits']:,} across splits, "
          f"{dup['conflicting_groups']:,} with conflicting labels)")  # fmt: skip
    for path in result.files:
        print(f"wrote {path}")
    return 0


def _explain_parser(sub: argparse._SubParsersAction) -> None:
    from newsclf.inference.explain import DEFAULT_STEPS as STEPS

    p = sub.add_parser(
        "explain",
        help="which words drove a prediction: a score per word",
        description="Score each word of each text for the predicted class (or --label): "
        "integrated gradients on a PyTorch model, occlusion on an ONNX export.",
    )
    p.add_argument("model", metavar="MODEL_DIR", help=MODEL_HELP)
    p.add_argument(
        "texts", nargs="*", default=[], metavar="TEXT", help="texts (default: lines on stdin)"
    )
    p.add_argument("--label", help="explain this class instead of the predicted one")
    p.add_argument("--method", choices=["auto", "gradients", "occlusion"], default="auto",
                   help="auto: gradients on PyTorch, occlusion on ONNX")  # fmt: skip
    p.add_argument("--steps", type=int, help=f"integrated-gradients steps (default: {STEPS})")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.set_defaults(func=_cmd_explain)


def _cmd_explain(args: argparse.Namespace) -> int:
    from newsclf.config import require_positive
    from newsclf.inference import Classifier
    from newsclf.model_dir import find_model_dir
    from newsclf.texts import check_texts

    model_dir = find_model_dir(args.model)
    if args.steps is not None:
        require_positive(args.steps, "--steps")
    texts = check_texts(args.texts, "TEXT argument")
    if not texts and not sys.stdin.isatty():
        texts = [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        raise NewsclfError("no text to explain: pass TEXT arguments, or pipe lines on stdin.")
    with loading_quietly(model_dir):
        classifier = Classifier.from_pretrained(model_dir)
    colour = sys.stdout.isatty()
    for explanation in classifier.explain(texts, args.label, args.method, args.steps):
        if args.json:
            print(json.dumps(explanation.to_dict()))
            continue
        print(f"{explanation.label} ({explanation.probability:.3f}): "
              + " ".join(_word(w, s, colour) for w, s in explanation.words)
              + (" [...]" if explanation.truncated else ""))  # fmt: skip
    return 0


def _word(word: str, score: float, colour: bool) -> str:
    """A word in the terminal: on a background as strong as its score, or with the score
    written after it when the output is not a terminal."""
    if not colour:
        return f"{word}[{score:+.2f}]"
    strength = min(int(abs(score) / 0.1), 3)  # below 0.1 of the total: no colour
    if strength == 0:
        return word
    code = (TOWARDS if score > 0 else AWAY)[strength - 1]
    return f"\x1b[48;5;{code}m\x1b[30m{word}\x1b[0m"
