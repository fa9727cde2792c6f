"""Training speed: a tutorial-style fine-tuning loop against newsclf's `fit`, in one process, on
the same model and texts.

    python benchmarks/bench_train.py                  # CPU: 4,500 train rows, the 7,600 test rows
    python benchmarks/bench_train.py --device cuda    # the same on a GPU
    python -m benchmarks.bench_train --quick          # smoke test on small subsets

Each loop trains epoch by epoch and saves its model after every epoch; the saved model is then
scored on the test split with the same scorer for both loops, with the clock paused (scoring is
excluded from both clocks). A loop stops once a saved model reaches --target accuracy, or at its
last epoch. Time to target = the clock when that model was saved, counted from loading the model
(tokenizing, training and saving included). --also adds newsclf runs with other settings.

Writes a JSON file (default benchmarks/results/<device>-<date>-train.json) and prints a table;
bench_speed.py runs these phases and the inference ones in one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common, harness  # noqa: E402
from benchmarks.harness import Bench, Phase  # noqa: E402

Scorer = Callable[[Path], float]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tutorial-epochs", type=int, default=3, help="the tutorial loop's schedule")
    p.add_argument("--score-precision", default="fp32", help="precision of the test scorer")
    p.add_argument(
        "--also", nargs="*", default=[], metavar="K=V[,K=V]",
        help="extra newsclf training runs with these overrides, e.g. epochs=1",
    )  # fmt: skip


def phases(bench: Bench, args: argparse.Namespace) -> dict[str, Phase]:
    scorer = make_scorer(bench, args.score_precision)
    epochs = 1 if args.quick else args.tutorial_epochs
    return {
        "train_tutorial": lambda: tutorial_train(bench, scorer, epochs),
        "train_newsclf": lambda: newsclf_train(bench, scorer),
        **{
            f"train_newsclf[{also}]": (
                lambda also=also: newsclf_train(bench, scorer, common.pairs([also]))
            )
            for also in args.also
        },
    }


def make_scorer(bench: Bench, precision: str) -> Scorer:
    """Test accuracy of a saved model, the same scorer for both loops."""
    from newsclf.inference import Classifier

    def score(model_dir: Path) -> float:
        clf = Classifier.from_pretrained(model_dir, device=str(bench.device), precision=precision)
        predicted = clf.infer(bench.test_texts).predicted
        return float((predicted == bench.test_labels).mean())

    return score


def tutorial_train(bench: Bench, scorer: Scorer, epochs: int) -> dict[str, Any]:
    """The loop most AG News fine-tuning tutorials write: fp32, batch 16, shuffled batches
    padded by DataCollatorWithPadding, AdamW 5e-5 with a linear schedule, loss.item() per step."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        get_scheduler,
    )

    from newsclf.training.model import resolve_model

    device, names, cfg = bench.device, bench.data.label_names, bench.cfg
    torch.set_float32_matmul_precision("highest")  # PyTorch's default: no TF32 in a tutorial
    clock = common.Clock(bench.sync)
    model_path = resolve_model(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, dtype=torch.float32,
    ).to(device)  # fmt: skip
    train = bench.data.splits["train"].map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=cfg.max_length),
        batched=True,
    )
    train = train.remove_columns(["text"]).rename_column("label", "labels")
    train.set_format("torch")
    torch.manual_seed(cfg.seed)
    loader = DataLoader(
        train, shuffle=True, batch_size=16, collate_fn=DataCollatorWithPadding(tokenizer)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scheduler = get_scheduler("linear", optimizer, 0, epochs * len(loader))
    fpt = 6 * harness.matmul_params(model)
    rows, reached, real, computed = [], None, 0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        t0, running, real0, computed0 = clock.now(), 0.0, real, computed
        for batch in loader:
            real += int(batch["attention_mask"].sum())  # CPU tensors: no device sync
            computed += batch["input_ids"].numel()
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item()
        train_s = clock.now() - t0
        target = bench.workdir / f"tutorial-epoch{epoch}"
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        saved_at = clock.now()
        accuracy = clock.excluded(lambda t=target: scorer(t))
        rows.append(_epoch_row(epoch, saved_at, accuracy, running / len(loader)))
        rows[-1].update(train_s=train_s, real=real - real0, computed=computed - computed0)
        if accuracy >= bench.target:
            reached = rows[-1]
            break
    return {
        "recipe": "fp32, batch 16, shuffled, DataCollatorWithPadding, AdamW 5e-5 linear, "
        f"{epochs}-epoch schedule, loss.item() every step",
        "epochs": rows,
        "time_to_target_s": reached["saved_at_s"] if reached else None,
        **train_throughput(rows, len(train), fpt),
    }


def newsclf_train(bench: Bench, scorer: Scorer, overrides: dict | None = None) -> dict[str, Any]:
    """newsclf's own loop (`newsclf.training.fit`): the default config, or with --set/--also.
    Without overrides, its saved model becomes the one the inference phases time."""
    import dataclasses

    from newsclf.data import tokenize
    from newsclf.training import fit
    from newsclf.training.loaders import train_loader
    from newsclf.training.model import build_model, load_tokenizer

    cfg, data = dataclasses.replace(bench.cfg, **(overrides or {})).validate(), bench.data
    clock = common.Clock(bench.sync)
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, data.label_names)
    train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    run_dir = bench.workdir / (
        "newsclf-run" + "-".join(f"{k}{v}" for k, v in (overrides or {}).items())
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def on_epoch(epoch: int, history: Any) -> bool:
        saved_at = clock.now()
        accuracy = clock.excluded(lambda: scorer(run_dir / "best_model"))
        row = _epoch_row(epoch, saved_at, accuracy, history.epochs[-1].train_loss)
        rows.append({**row, "best_epoch_by_val": history.best_epoch})
        return accuracy >= bench.target

    params = harness.matmul_params(model)
    history = fit(cfg, model, tokenizer, train_set, data, run_dir, on_epoch=on_epoch)
    lengths = list(train_set["length"])
    # The padded tokens of one epoch of the same sampler (every epoch pads about the same).
    per_epoch = sum(b["input_ids"].numel() for b in train_loader(cfg, tokenizer, train_set))
    for row, epoch in zip(rows, history.epochs, strict=True):
        row.update(train_s=epoch.train_seconds, real=sum(lengths), computed=per_epoch)
        row["epoch_seconds"] = epoch.seconds  # validation and checkpoint included
    reached = next((r for r in rows if r["test_accuracy"] >= bench.target), None)
    if not overrides:
        bench.use_model(run_dir / "best_model", params)
    return {
        "recipe": f"newsclf fit: precision {cfg.precision} ({_resolved_precision(cfg)}), "
        f"batch {cfg.batch_size}, lr {cfg.learning_rate}, group_by_length {cfg.group_by_length}, "
        f"{cfg.epochs}-epoch schedule, compile {cfg.compile}",
        "epochs": rows,
        "time_to_target_s": reached["saved_at_s"] if reached else None,
        # Steps only, like the tutorial's; each epoch's epoch_seconds adds validation and saving.
        **train_throughput(rows, len(lengths), 6 * params),
    }


def train_throughput(rows: list[dict], n: int, fpt: float) -> dict[str, Any]:
    """Throughput over the optimizer steps of every epoch (`train`), and over the epochs after
    the first (`train_steady`: without warm-up such as torch.compile's), from per-epoch
    `train_s` (steps only), `real` and `computed` tokens; the per-epoch keys are then dropped."""

    def over(part: list[dict]) -> dict[str, Any]:
        return harness.throughput(
            len(part) * n,
            sum(r["real"] for r in part),
            sum(r["computed"] for r in part),
            sum(r["train_s"] for r in part),
            fpt,
        )

    out = {"train": over(rows)}
    if len(rows) > 1:
        out["train_steady"] = over(rows[1:])
    for row in rows:
        row["train_seconds"] = round(row.pop("train_s"), 2)
        del row["real"], row["computed"]
    return out


def _resolved_precision(cfg: Any) -> str:
    from newsclf.precision import precision_name, training_dtype

    return precision_name(training_dtype(cfg.precision))


def _epoch_row(epoch: int, saved_at: float, accuracy: float, loss: float) -> dict[str, Any]:
    print(f"  epoch {epoch}: saved at {saved_at:.1f}s, test accuracy {accuracy:.4f}", flush=True)
    return {
        "epoch": epoch,
        "saved_at_s": round(saved_at, 2),
        "test_accuracy": round(accuracy, 5),
        "train_loss": round(loss, 5),
    }


def summary(bench: Bench, results: dict[str, Any]) -> dict[str, Any]:
    """Each newsclf run against the tutorial loop: time to target and samples/s."""
    out: dict[str, Any] = {}
    tut = results.get("train_tutorial")
    for name, new in results.items():
        if not tut or not name.startswith("train_newsclf"):
            continue
        suffix = name.removeprefix("train_newsclf")
        if tut["time_to_target_s"] and new["time_to_target_s"]:
            ratio = new["time_to_target_s"] / tut["time_to_target_s"]
            out[f"time_to_target_ratio{suffix}"] = round(ratio, 3)
        speedup = new["train"]["samples_per_s"] / tut["train"]["samples_per_s"]
        out[f"train_speedup{suffix}"] = round(speedup, 2)
        if "train_steady" in new and "train_steady" in tut:
            steady = new["train_steady"]["samples_per_s"] / tut["train_steady"]["samples_per_s"]
            out[f"train_steady_speedup{suffix}"] = round(steady, 2)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = harness.parse_args(__doc__, add_args, argv)
    return harness.run(args, lambda b: phases(b, args), [summary], __file__, "-train")


if __name__ == "__main__":
    main()
