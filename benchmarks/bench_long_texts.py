"""How long texts are read: truncation at 128, 256 and 512 tokens, head-tail and chunks, and the
default (`--long-texts auto`), on the long-text sets of ../shared/data (20 Newsgroups, Reuters).

    python benchmarks/bench_long_texts.py --sets 20newsgroups --readings truncate-128 chunks-128
    python benchmarks/bench_long_texts.py --train-rows 1000 --eval-rows 300 --test-rows 500

Each (set, reading) is one `newsclf.train` on the same rows, with the budget `--epochs auto`
gives it (at least 500 optimizer steps: under chunks a long text is several rows, so a chunked
run's epochs are fewer) or `--epochs N` for all, scored on the same test rows: the metric, macro-F1,
training texts/s (training rows x epochs / training seconds) and inference texts/s (test rows /
scoring seconds). `--train-rows`/`--test-rows` take stratified seeded samples (the runs' own
`max_*_samples`), so the panel fits a CPU; say so with its figures. The
TF-IDF baseline is fitted on the same training rows. The truncate-128 model also reads the test
texts in each inference reading, timed (`--inference-only`: just that, for a finished run). For
a multi-label set, the chunked model
is also scored with its windows pooled by max instead of mean. Results are written as each
finishes (default benchmarks/results/long-texts-<date>.json); pairs already there are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402
from benchmarks.bench_defaults import SETS, SHARED, read_run, run_baseline  # noqa: E402

READINGS: dict[str, dict[str, Any]] = {
    "truncate-128": {"long_texts": "truncate", "max_length": 128},
    "truncate-256": {"long_texts": "truncate", "max_length": 256},
    "truncate-512": {"long_texts": "truncate", "max_length": 512},
    "head-tail-256": {"long_texts": "head-tail", "max_length": 256},
    "chunks-128": {"long_texts": "chunks", "max_length": 128},
    "chunks-256": {"long_texts": "chunks", "max_length": 256},
    "auto": {},  # what a user gets: max length auto, long texts auto
}
LONG_SETS = ("20newsgroups", "reuters")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sets", nargs="*", default=list(LONG_SETS), choices=list(LONG_SETS))
    p.add_argument("--readings", nargs="*", default=list(READINGS), choices=list(READINGS))
    p.add_argument("--train-rows", type=int, default=None, help="stratified sample of train")
    p.add_argument("--test-rows", type=int, default=None, help="stratified sample of test")
    p.add_argument("--eval-rows", type=int, default=None, help="stratified sample of validation")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="the same for every reading (default: auto, each reading's own budget)",
    )
    p.add_argument("--data-dir", type=Path, default=SHARED, help="holds the sets' directories")
    p.add_argument("--runs", type=Path, default=Path("runs/long-texts"), help="parent of runs")
    p.add_argument("--out", type=Path, default=None, help="JSON (default results/long-texts-...)")
    p.add_argument(
        "--inference-only",
        action="store_true",
        help="only the inference readings of a finished truncate-128 run",
    )
    return p.parse_args(argv)


def run_reading(flags: dict[str, Any], reading: str, name: str, runs: Path) -> dict[str, Any]:
    """Train with this reading (a complete run of that name is read back, not trained again)."""
    from newsclf import TrainConfig, train

    run_dir = runs / name
    if not (run_dir / "test_metrics.json").is_file():
        cfg = TrainConfig.from_dict({**flags, **READINGS[reading], "output_dir": str(runs),
                                     "name": name, "overwrite": True, "quiet": True,
                                     "visuals": False})  # fmt: skip
        run_dir = train(cfg).run_dir
    result = read_run(run_dir)
    test = json.loads((run_dir / "test_metrics.json").read_text(encoding="utf-8"))
    config = json.loads((run_dir / "best_model" / "config.json").read_text(encoding="utf-8"))
    rows = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))["splits"]
    trained = rows["train"]["rows"] * result["epochs_trained"]
    result.update(
        reading=config.get("newsclf_reading"),
        train_texts_per_second=round(trained / max(result["training_seconds"], 1e-9), 2),
        inference_texts_per_second=test.get("texts_per_second"),
        inference_seconds=test.get("seconds"),
    )
    return result


def read_as(clf: Any, reading: Any) -> None:
    """Make a loaded classifier read texts another way (weights unchanged)."""
    from newsclf.reading import TextReader

    backend = clf.backend
    backend.reading, backend.max_length = reading, reading.max_length
    backend.reader = TextReader.from_transformers(backend.tokenizer, reading)


def inference_speed(run_dir: Path, flags: dict[str, Any]) -> dict[str, Any]:
    """The test texts read by one model (the truncate-128 run's) in each inference reading:
    texts/s, windows, and passes of the model. The weights are the same for every reading, so
    the speeds compare the readings alone; the scores of readings other than the one it was
    trained with are shown for completeness (a train/test mismatch, not a fair comparison)."""
    import time

    from newsclf import TrainConfig, load_data
    from newsclf.inference import Classifier
    from newsclf.reading import Reading

    data = load_data(TrainConfig.from_dict({**flags, "output_dir": str(run_dir.parent)}))
    texts, labels = list(data.splits["test"]["text"]), data.splits["test"]["label"]
    clf, out = Classifier.from_pretrained(run_dir / "best_model"), {}
    for name, reading in (("truncate-128", Reading("truncate", 128)),
                          ("head-tail-128", Reading("head-tail", 128)),
                          ("chunks-128", Reading("chunks", 128, 32))):  # fmt: skip
        read_as(clf, reading)
        clf.infer(texts[:64])  # warm-up
        start = time.perf_counter()
        inference = clf.infer(texts)
        seconds = time.perf_counter() - start
        windows = clf.reading_summary(texts)["windows"]
        batch = clf.backend.batch_size
        out[name] = {
            "texts_per_second": round(len(texts) / seconds, 2),
            "windows": windows,
            "batches": -(-windows // batch),
            "batch_size": batch,
            "accuracy": round(float((inference.predicted == labels).mean()), 4),
        }
        print(f"inference {name}: {out[name]}", flush=True)
    return out


def max_pooled(run_dir: Path, flags: dict[str, Any]) -> dict[str, Any]:
    """A multi-label chunked model scored again with its windows' logits pooled by max."""
    from newsclf import TrainConfig, load_data
    from newsclf.evaluation import score_split
    from newsclf.inference import Classifier

    clf = Classifier.from_pretrained(run_dir / "best_model")
    read_as(clf, dataclasses.replace(clf.reading, pool="max"))
    data = load_data(TrainConfig.from_dict({**flags, "output_dir": str(run_dir.parent)}))
    test = data.splits["test"]
    metrics, _ = score_split(clf, test["text"], data.label_matrix("test").tolist(), "test")
    return {k: metrics[k] for k in ("micro_f1", "macro_f1", "samples_f1") if k in metrics}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = args.out or common.result_path("long-texts")
    report = json.loads(out.read_text()) if out.is_file() else {"sets": {}}
    report.update(command=common.command_line(__file__, sys.argv[1:] if argv is None else argv),
                  machine=common.machine())  # fmt: skip
    for name in args.sets:
        flags = {**SETS[name](args.data_dir, args.runs / "data"), "epochs": args.epochs or "auto",
                 "max_train_samples": args.train_rows, "max_test_samples": args.test_rows,
                 "max_eval_samples": args.eval_rows}  # fmt: skip
        entry = report["sets"].setdefault(name, {"readings": {}})
        entry["flags"] = flags
        if "baseline" not in entry:
            entry["baseline"] = run_baseline(flags, args.runs)
            common.write_json(out, report)
        if args.inference_only:
            entry["inference"] = inference_speed(args.runs / f"{name}-truncate-128", flags)
            common.write_json(out, report)
            continue
        for reading in args.readings:
            if reading in entry["readings"]:
                print(f"{name} / {reading}: already in {out}", flush=True)
                continue
            result = run_reading(flags, reading, f"{name}-{reading}", args.runs)
            if entry["baseline"]["task"] == "multi-label" and reading.startswith("chunks"):
                result["test_max_pooled"] = max_pooled(args.runs / f"{name}-{reading}", flags)
            entry["readings"][reading] = result
            if reading == "truncate-128" and "inference" not in entry:
                entry["inference"] = inference_speed(args.runs / f"{name}-{reading}", flags)
            common.write_json(out, report)
            print(f"{name} / {reading}: {result['test']} (baseline {entry['baseline']['test']})",
                  flush=True)  # fmt: skip
    return report


if __name__ == "__main__":
    main()
