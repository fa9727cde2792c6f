"""Where the time of newsclf's training step goes: torch.profiler over real steps of `fit`.

    python benchmarks/profile_step.py --model DIR --set batch_size=256 --out prof.json
    python -m benchmarks.profile_step --set batch_size=8 max_train_samples=200 --wait 2 --active 2

Runs `newsclf.training.fit` for one epoch on the bundled rows and profiles a window of optimizer
steps after a warm-up (hooked on every optimizer step, so the loop profiled is newsclf's own).
Writes the busiest operators by device and host time, and the share of the window's wall time
that the device spent running kernels (well under 1 means the host is the bottleneck).
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

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=None, help="model dir or name (default: newsclf's)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig fields")
    p.add_argument("--wait", type=int, default=5, help="steps before the profiler warms up")
    p.add_argument("--active", type=int, default=5, help="steps profiled")
    p.add_argument("--top", type=int, default=25, help="operators listed")
    p.add_argument("--out", type=Path, default=None, help="JSON output")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.profiler import ProfilerActivity, profile, schedule

    from newsclf.config import TrainConfig
    from newsclf.data import load_data, tokenize
    from newsclf.training import fit
    from newsclf.training.model import build_model, load_tokenizer

    args = parse_args(argv)
    overrides = common.pairs(args.set)
    if args.model:
        overrides["model"] = args.model
    values = {**common.FIXED_RECIPE, "epochs": 1, **overrides}
    cfg = TrainConfig(quiet=True, visuals=False, **values).validate()
    data = load_data(cfg)
    tokenizer = load_tokenizer(cfg.model)
    model = build_model(cfg.model, data.label_names)
    train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    warmup, steps, marks = 2, [0], {}
    last = args.wait + warmup + args.active

    def on_step(*_: Any) -> None:
        steps[0] += 1
        if steps[0] in (args.wait + warmup, last):  # the active window's edges
            if cuda:
                torch.cuda.synchronize()
            marks[steps[0]] = time.perf_counter()
        if steps[0] <= last:
            prof.step()

    sched = schedule(wait=args.wait, warmup=warmup, active=args.active, repeat=1)
    handle = register_optimizer_step_post_hook(on_step)
    with profile(activities=activities, schedule=sched) as prof, tempfile.TemporaryDirectory() as d:
        fit(cfg, model, tokenizer, train_set, data, Path(d))
    handle.remove()
    return _report(args, cfg, prof, marks, last - args.active, last, cuda)


def _report(args, cfg, prof, marks: dict, first: int, last: int, cuda: bool) -> dict[str, Any]:
    averages = prof.key_averages()
    device_key = (
        "self_device_time_total"
        if hasattr(averages[0], "self_device_time_total")
        else "self_cuda_time_total"
    )
    wall_us = (marks[last] - marks[first]) * 1e6 if last in marks and first in marks else None
    # Kernels only: operators and ProfilerStep also carry the device time of their kernels.
    kernels = [e for e in averages if str(getattr(e, "device_type", "")).endswith("CUDA")]
    device_us = sum(getattr(e, device_key) for e in kernels) if cuda else None
    rows = sorted(
        averages,
        key=lambda e: getattr(e, device_key) if cuda else e.self_cpu_time_total,
        reverse=True,
    )
    report = {
        "config": {"model": cfg.model, "batch_size": cfg.batch_size, "precision": cfg.precision,
                   "compile": cfg.compile},
        "steps_profiled": args.active,
        "wall_ms_per_step": round(wall_us / 1e3 / args.active, 3) if wall_us else None,
        "device_busy_ms_per_step": round(device_us / 1e3 / args.active, 3) if device_us else None,
        "device_busy_share": round(device_us / wall_us, 3) if device_us and wall_us else None,
        "top_ops": [
            {"name": e.key, "calls": e.count,
             "self_device_ms": round(getattr(e, device_key) / 1e3, 3) if cuda else None,
             "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 3)}
            for e in rows[: args.top]
        ],
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.out:
        common.write_json(args.out, report)
    return report


if __name__ == "__main__":
    main()
