"""Self-distillation (born-again networks, Furlanello et al. 2018), measured on validation only:
a teacher trained with the default settings, then a student of the same model and seed trained
on (1 - a) x cross-entropy + a x T^2 x KL(teacher || student) at temperature T.

    python benchmarks/bench_self_distill.py                    # seeds 42 43 44, a=0.5, T=2
    python -m benchmarks.bench_self_distill --alpha 0.7 --temperature 1 --seeds 42

newsclf has no distillation option: this script gives the student its loss by replacing the
loss `fit` would use (`newsclf.training.engine.make_objective`) for the student's run, with the
teacher's logits looked up by each row's tokens. The teacher's run is the `baseline` setting of
bench_recipes.py (same config and seed). Results go into bench_recipes.py's JSON (setting
`self_distill_a<a>_t<T>`), whose seconds are the teacher's and the student's runs together.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import bench_recipes, common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", nargs="*", type=int, default=[42, 43, 44])
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the teacher's term")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--workdir", type=Path, default=None)
    return p.parse_args(argv)


class Distillation:
    """The student's loss; the teacher's logits are found by each row's unpadded tokens."""

    def __init__(self, teacher: dict[tuple[int, ...], Any], alpha: float, temperature: float):
        self.teacher, self.alpha, self.temperature = teacher, alpha, temperature

    def __call__(self, model, batch, class_weights, precision):
        import torch
        import torch.nn.functional as F

        labels = batch.pop("labels")
        rows = [
            tuple(ids[mask.bool()].tolist())
            for ids, mask in zip(
                batch["input_ids"].cpu(), batch["attention_mask"].cpu(), strict=True
            )
        ]
        target = torch.stack([self.teacher[r] for r in rows]).to(labels.device)
        logits = precision.forward(model, batch).logits.float()
        t = self.temperature
        ce = F.cross_entropy(logits, labels, weight=class_weights)
        kd = F.kl_div(
            F.log_softmax(logits / t, dim=-1), F.softmax(target / t, dim=-1), reduction="batchmean"
        )
        return (1 - self.alpha) * ce + self.alpha * t * t * kd


def teacher_logits(run_dir: Path, train_set: Any) -> dict[tuple[int, ...], Any]:
    """The teacher's (best epoch's) fp32 logits for every training row, by its tokens."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "best_model").eval()
    out = {}
    with torch.inference_mode():
        for row in train_set:
            ids = torch.tensor([row["input_ids"]])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
            out[tuple(row["input_ids"])] = logits.float()
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from newsclf.data import tokenize
    from newsclf.training import engine, load_tokenizer

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or bench_recipes.default_out()
    extra = common.pairs(args.set)
    report = json.loads(out.read_text()) if out.exists() else None
    report = report or {"benchmark": "recipes", "machine": common.machine(), "set": extra,
                        "command": "", "runs": []}  # fmt: skip
    name = f"self_distill_a{args.alpha:g}_t{args.temperature:g}"
    done = {(r["setting"], r["seed"]) for r in report["runs"]}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-distill-"))
    data = bench_recipes.Data()
    for seed in args.seeds:
        if (name, seed) in done:
            continue
        cfg = bench_recipes.config("baseline", seed, extra, workdir / "teacher")
        split = data.get(cfg)
        train_set = tokenize(split.splits["train"], load_tokenizer(cfg.model), cfg.max_length)
        start = time.perf_counter()
        teacher = bench_recipes.train_one(
            cfg, split, keep=lambda d, rows=train_set: teacher_logits(d, rows)
        )
        distill = Distillation(teacher.pop("kept"), args.alpha, args.temperature)
        real = engine.make_objective
        engine.make_objective = lambda cfg, model, loss=distill: loss
        try:
            student_cfg = bench_recipes.config("baseline", seed, extra, workdir / "student")
            student = bench_recipes.train_one(student_cfg, split)
        finally:
            engine.make_objective = real
        overrides = {"self_distill": f"alpha {args.alpha:g}, T {args.temperature:g}"}
        report["runs"].append({
            "setting": name, "overrides": overrides, "seed": seed, **student,
            "seconds": round(time.perf_counter() - start, 1), "student_seconds": student["seconds"],
            "teacher_val_accuracy": teacher["val_accuracy"],
            "command": f"python benchmarks/bench_self_distill.py --alpha {args.alpha:g} "
            f"--temperature {args.temperature:g}",
        })  # fmt: skip
        common.write_json(out, report)
        print(f"{name} seed {seed}: teacher {teacher['val_accuracy']:.4f}, student "
              f"{student['val_accuracy']:.4f}", flush=True)  # fmt: skip
    print(bench_recipes.table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
