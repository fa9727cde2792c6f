"""Calibration of a finished run, measured: ECE (15 bins) and log loss on its test split before
and after, accuracy (unchanged), the accuracy-coverage table, and plain transformers' answers
on the calibrated model against newsclf's.

    python benchmarks/bench_calibration.py runs/demo                 # a copy is calibrated
    python -m benchmarks.bench_calibration runs/demo --work /tmp/cal --out results.json

The run is copied (the original is left alone) and calibrated with `newsclf.calibrate_run`,
which fits the temperature on the run's own validation split (rebuilt from its config.yaml)
and scores the test split at the run's precision. The test split is then scored again here in
fp32 with the calibrated weights, and the figures "before" come from the same logits with the
temperature unfolded, so both columns are plain transformers' numbers. A run already
calibrated is measured as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402

PIPELINE_TEXTS = 200  # test texts also run through transformers.pipeline, one by one


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path, help="a finished run directory (left unchanged)")
    p.add_argument("--work", type=Path, default=None, help="where the copy goes (default: beside)")
    p.add_argument("--target-accuracy", type=float, default=0.97)
    p.add_argument("--out", type=Path, default=None, help="JSON (default results/calibration-...)")
    return p.parse_args(argv)


def calibrated_copy(run: Path, work: Path) -> tuple[Path, float]:
    """The run copied to `work` and calibrated there (seconds it took)."""
    from newsclf import calibrate_run
    from newsclf.model_dir import model_config
    from newsclf.task import CALIBRATION_KEY

    target = work / f"{run.name}-calibrated"
    if not target.exists():
        shutil.copytree(run, target)
    start = time.perf_counter()
    if not model_config(target / "best_model").get(CALIBRATION_KEY):
        calibrate_run(target, visuals=False)
    return target, time.perf_counter() - start


def measure(run: Path, target_accuracy: float) -> dict[str, Any]:
    """fp32 figures of the calibrated run's test split, before and after."""

    from newsclf import Classifier, TrainConfig, load_data
    from newsclf.evaluation.calibration import calibration_scores
    from newsclf.evaluation.coverage import accuracy_coverage, confidence_and_correct
    from newsclf.evaluation.evaluate import target_accuracy_table
    from newsclf.inference.classifier import softmax
    from newsclf.model_dir import model_config
    from newsclf.task import CALIBRATION_KEY

    cfg = TrainConfig.from_yaml(run / "config.yaml", output_dir=str(run.parent), name=run.name)
    data = load_data(cfg)
    info = model_config(run / "best_model")[CALIBRATION_KEY]
    clf = Classifier.from_pretrained(run / "best_model", precision="fp32")
    out: dict[str, Any] = {"calibration": info}
    scored = {}
    for split in ("validation", "test"):
        labels = data.label_matrix(split)
        inference = clf.infer(data.splits[split]["text"], batch_size=cfg.eval_batch_size)
        scored[split] = (inference, labels)
    inference, labels = scored["test"]
    before = softmax(inference.logits * info["temperature"])
    out["test_fp32"] = {
        "rows": len(labels),
        "accuracy_before": float((before.argmax(1) == labels).mean()),
        "accuracy_after": float((inference.probabilities.argmax(1) == labels).mean()),
        "mean_top_probability_before": float(before.max(1).mean()),
        "mean_top_probability_after": float(inference.probabilities.max(1).mean()),
        "before": calibration_scores(before, labels),
        "after": calibration_scores(inference.probabilities, labels),
        "argmax_unchanged": bool((before.argmax(1) == inference.probabilities.argmax(1)).all()),
    }
    test_pairs = confidence_and_correct(inference, labels)
    out["accuracy_coverage"] = accuracy_coverage(*test_pairs)
    val_pairs = confidence_and_correct(*scored["validation"])
    out["target_accuracy"] = target_accuracy_table(target_accuracy, val_pairs, test_pairs)
    texts = data.splits["test"]["text"][:PIPELINE_TEXTS]
    out["pipeline_max_abs_diff"] = _pipeline_gap(run, texts, inference.probabilities, clf)
    return out


def _pipeline_gap(run: Path, texts: list[str], ours: Any, clf: Any) -> float:
    """The largest gap between plain transformers.pipeline's probabilities and newsclf's."""
    import numpy as np
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(run / "best_model"), device="cpu", top_k=None)
    gaps = []
    for row, answer in zip(ours, pipe(texts), strict=False):
        theirs = {a["label"]: a["score"] for a in answer}
        gaps.append(np.abs(np.array([theirs[n] for n in clf.label_names]) - row).max())
    return float(max(gaps))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or args.run.parent
    out = args.out or common.result_path("calibration")
    target, seconds = calibrated_copy(args.run, work)
    report = {
        "command": common.command_line(__file__, sys.argv[1:] if argv is None else argv),
        "machine": common.machine(),
        "run": str(args.run),
        "calibrated_copy": str(target),
        "calibrate_run_seconds": round(seconds, 1),
        "run_test_metrics": {
            k: v
            for k, v in json.loads((target / "test_metrics.json").read_text()).items()
            if k in ("accuracy", "ece", "log_loss", "calibration", "accuracy_coverage")
        },
        **measure(target, args.target_accuracy),
    }
    report["run_test_metrics"].get("calibration", {}).pop("reliability_before", None)
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {common.write_json(out, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
