"""What a training batch costs to make: newsclf's loaders against DataCollatorWithPadding.

    python benchmarks/bench_batching.py                # the bundled AG News train rows
    python benchmarks/bench_batching.py --device cuda  # rows and batches on the GPU
    python -m benchmarks.bench_batching --batch-size 256

Both loaders draw the same batches: the bundled training rows tokenized once by the packaged
MiniLM tokenizer (max_length 128), the same LengthGroupedSampler (seed 0), batch 32, padding to
a multiple of 8. `arrow_rows` is newsclf's loader on a CPU (`newsclf.training.loaders.ArrowRows`:
a batch's rows gathered from the split's Arrow table and padded in one numpy scatter per column);
`padded_rows` is its loader on a GPU (`loaders.PaddedRows`: the split held as padded tensors, a
batch cut in one indexing operation), timed here on --device; `collator` is the usual Hugging
Face way: the DataLoader fetches each row from the Arrow dataset and `DataCollatorWithPadding` pads
the batch. For scale, the same batches then go through training steps of the packaged MiniLM
(forward, backward, AdamW) at the default precision. Also recorded: the memory each loader keeps
for the split, and that both give the same tensors.

Writes benchmarks/results/<device>-<date>-batching.json and prints it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file, not with -m: the repo root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="training steps timed, for scale")
    p.add_argument("--repeats", type=int, default=3, help="passes over the loader; fastest kept")
    p.add_argument("--out", type=Path)
    return p.parse_args(argv)


def collator_loader(cfg: Any, tokenizer: Any, train_set: Any) -> Any:
    """The Trainer's way: rows fetched one by one, padded by DataCollatorWithPadding."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = LengthGroupedSampler(cfg.batch_size, lengths=train_set["length"], generator=generator)
    return DataLoader(
        train_set.remove_columns(["length"]).rename_column("label", "labels"),
        batch_sampler=BatchSampler(sampler, cfg.batch_size, drop_last=False),
        collate_fn=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
    )


def loader_over(rows: Any, like: Any) -> Any:
    """A loader with `like`'s batch sampler (a fresh one: same seed, same batches) over `rows`."""
    from torch.utils.data import DataLoader

    return DataLoader(range(len(rows)), batch_sampler=like.batch_sampler, collate_fn=rows.collate)


def epoch_seconds(make_loader, device: Any, repeats: int) -> tuple[float, int]:
    """Fastest pass over a fresh loader (same seed, so the same batches), batches on `device`."""
    best, batches = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        batches = 0
        for batch in make_loader():
            {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            batches += 1
        if device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, batches


def same_batches(a: Any, b: Any) -> bool:
    for x, y in zip(a, b, strict=True):
        if sorted(x) != sorted(y) or any(not (x[k].cpu() == y[k].cpu()).all() for k in x):
            return False
    return True


def step_seconds(cfg: Any, loader: Any, device: Any, steps: int) -> float:
    """Mean seconds of a training step (forward, backward, AdamW) at the default precision."""
    import torch

    from newsclf.precision import TrainingPrecision
    from newsclf.training.model import build_model

    model = build_model(cfg.model, ["World", "Sports", "Business", "Sci/Tech"]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    precision = TrainingPrecision.for_training(cfg.precision, device)
    batches = list(loader)[: steps + 1]
    times = []
    for batch in batches[: steps + 1]:
        start = time.perf_counter()
        with precision.autocast():
            loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / len(times[1:])  # the first step pays one-time allocations


def main(argv: list[str] | None = None) -> int:
    import torch

    from newsclf.config import TrainConfig
    from newsclf.data import load_data, tokenize
    from newsclf.training.loaders import PaddedRows, train_loader
    from newsclf.training.model import load_tokenizer

    args = parse_args(argv)
    device = torch.device(args.device)
    cfg = TrainConfig(batch_size=args.batch_size, quiet=True, **common.FIXED_RECIPE).validate()
    tokenizer = load_tokenizer(cfg.model)
    train_set = tokenize(load_data(cfg).splits["train"], tokenizer, cfg.max_length)
    arrow = lambda: train_loader(cfg, tokenizer, train_set)  # noqa: E731
    padded = lambda: loader_over(PaddedRows(train_set, tokenizer.pad_token_id, 8, device), arrow())  # noqa: E731
    theirs = lambda: collator_loader(cfg, tokenizer, train_set)  # noqa: E731
    rows = PaddedRows(train_set, tokenizer.pad_token_id, 8)
    held = sum(t.numel() * t.element_size() for t in [*rows.columns.values(), rows.labels])
    result: dict[str, Any] = {
        "device": str(device),
        "rows": len(train_set),
        "batch_size": cfg.batch_size,
        "load_start": os.getloadavg(),
        "same_batches": same_batches(arrow(), theirs()) and same_batches(padded(), theirs()),
        "padded_rows_tensor_mib": round(held / 2**20, 2),
        "arrow_table_mib": round(train_set.data.nbytes / 2**20, 2),
    }
    for name, make in (("arrow_rows", arrow), ("padded_rows", padded), ("collator", theirs)):
        seconds, batches = epoch_seconds(make, device, args.repeats)
        result[f"{name}_epoch_s"] = round(seconds, 4)
        result[f"{name}_ms_per_batch"] = round(1000 * seconds / batches, 3)
    result["precision"] = cfg.precision
    result["train_step_ms"] = round(1000 * step_seconds(cfg, arrow(), device, args.steps), 1)
    for name in ("arrow_rows", "padded_rows", "collator"):
        share = result[f"{name}_ms_per_batch"] / result["train_step_ms"]
        result[f"{name}_share_of_step"] = round(share, 4)
    result["load_end"] = os.getloadavg()
    out = common.write_json(args.out or common.result_path(device.type, "-batching"), result)
    print(json.dumps(result, indent=2), f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
