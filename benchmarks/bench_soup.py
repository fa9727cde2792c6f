"""Model soups (Wortsman et al. 2022) and ensembles, measured on validation only: K members
fine-tuned from one starting model (the same classification head, drawn with the carve's
seed) that differ in their training seed (batch order and dropout), then scored on the
validation rows one by one, as a logit ensemble, and as a uniform soup (the members' weights
averaged into one plain model).

    python benchmarks/bench_soup.py --carves 42 --members 4
    python -m benchmarks.bench_soup --carves 43 44 --members 4 --set epochs=3

Member m trains with seed carve + 1000 x m (member 0 with the carve's own seed, as
bench_recipes.py's `baseline` does). Each carve's result is written to the JSON (default benchmarks/results/soup-<date>.json)
as soon as it is done; carves already in it are skipped. Scores are computed here in fp32 on
the validation split (the test split is never scored).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import bench_recipes, common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--carves", nargs="*", type=int, default=[42, 43, 44])
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--keep", type=Path, default=None,
        help="save each carve's soup of all members as a plain model in KEEP/<carve>/ (to score "
        "it on test with scripts/score_with_transformers.py)",
    )  # fmt: skip
    return p.parse_args(argv)


def val_logits(model: Any, loader: Any) -> tuple[Any, Any]:
    """fp32 logits and labels of every validation row, in the order of training's own
    validation batches (`newsclf.training.loaders.eval_loader`: the same every call)."""
    import torch

    model.eval()
    logits, labels = [], []
    with torch.inference_mode():
        for batch in loader:
            labels.append(batch.pop("labels"))
            logits.append(model(**batch).logits.float())
    return torch.cat(logits), torch.cat(labels)


def train_member(
    cfg: Any, model: Any, tokenizer: Any, start: dict[str, Any], data: Any, train_set: Any
) -> tuple[dict, Any]:
    """One member: `model` set to the shared starting weights, then `fit` with the member's
    seed. Returns its history and its best epoch's weights."""
    from accelerate.utils import set_seed

    from newsclf.quiet import quiet_libraries
    from newsclf.training import fit

    model.load_state_dict(start)
    set_seed(cfg.seed)
    cfg.run_dir.mkdir(parents=True)
    try:
        with quiet_libraries("datasets", "transformers"):
            history = fit(cfg, model, tokenizer, train_set, data, cfg.run_dir).to_dict()
        from transformers import AutoModelForSequenceClassification

        with quiet_libraries("transformers"):
            best = AutoModelForSequenceClassification.from_pretrained(cfg.run_dir / "best_model")
        return history, {k: v.float().clone() for k, v in best.state_dict().items()}
    finally:
        shutil.rmtree(cfg.run_dir, ignore_errors=True)


def carve(
    seed: int, k: int, extra: dict[str, Any], workdir: Path, keep: Path | None = None
) -> dict[str, Any]:
    import torch
    from accelerate.utils import set_seed

    from newsclf.data import tokenize
    from newsclf.quiet import quiet_libraries
    from newsclf.training import build_model, load_tokenizer
    from newsclf.training.loaders import eval_loader

    base = bench_recipes.config("baseline", seed, extra, workdir / "start")
    data = bench_recipes.Data().get(base)
    tokenizer = load_tokenizer(base.model)
    with quiet_libraries("datasets", "transformers"):
        train_set = tokenize(data.splits["train"], tokenizer, base.max_length)
        val = tokenize(data.splits["validation"], tokenizer, base.max_length)
    val_loader = eval_loader(base, tokenizer, val)
    set_seed(seed)  # the head every member starts from: the baseline run's own
    with quiet_libraries("transformers"):
        model = build_model(base.model, data.label_names)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    members, weights, logits = [], [], []
    for m in range(k):
        cfg = bench_recipes.config("baseline", seed + 1000 * m, extra, workdir / f"m{m}")
        t0 = time.perf_counter()
        history, state = train_member(cfg, model, tokenizer, start, data, train_set)
        model.load_state_dict(state)
        member_logits, labels = val_logits(model, val_loader)
        logits.append(member_logits)
        acc = (logits[-1].argmax(-1) == labels).float().mean().item()
        weights.append(state)
        members.append({"seed": cfg.seed, "val_accuracy": acc, "best_epoch": history["best_epoch"],
                        "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        print(f"carve {seed} member {m}: val {acc:.4f} epoch {history['best_epoch']}", flush=True)
    out: dict[str, Any] = {"carve": seed, "members": members, "ensemble": [], "soup": []}
    for n in range(2, k + 1):  # the first n members
        ens = torch.stack(logits[:n]).softmax(-1).mean(0)
        soup = {key: sum(w[key] for w in weights[:n]) / n for key in weights[0]}
        model.load_state_dict(soup)
        out["ensemble"].append((ens.argmax(-1) == labels).float().mean().item())
        out["soup"].append(
            (val_logits(model, val_loader)[0].argmax(-1) == labels).float().mean().item()
        )
        print(f"carve {seed} n={n}: ensemble {out['ensemble'][-1]:.4f} soup "
              f"{out['soup'][-1]:.4f}", flush=True)  # fmt: skip
    if keep is not None:  # the model holds the soup of all k members
        model.save_pretrained(keep / str(seed))
        tokenizer.save_pretrained(keep / str(seed))
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or common.result_path("soup", "")
    extra = common.pairs(args.set)
    report = json.loads(out.read_text()) if out.exists() else None
    report = report or {"benchmark": "soup", "machine": common.machine(), "set": extra,
                        "members": args.members, "carves": []}  # fmt: skip
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-soup-"))
    for seed in args.carves:
        if any(c["carve"] == seed for c in report["carves"]):
            continue
        result = carve(seed, args.members, extra, workdir / str(seed), args.keep)
        # Another process may have written other carves meanwhile: read before adding.
        report = json.loads(out.read_text()) if out.exists() else report
        report["carves"].append(result)
        common.write_json(out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
