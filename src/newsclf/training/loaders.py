"""Training and validation loaders: how tokenized rows become padded batches.

A batch pads to its own longest row, rounded up to PAD_MULTIPLE (`newsclf.data.tokenize`, the
rule inference pads by too). Training batches come from a
length-grouped sampler (random order, similar lengths); validation batches are shortest-first.
Where the rows are read from depends on where the batches go (`token_rows`): on a CPU, from
the split's Arrow table a batch at a time (`ArrowRows`: memory-mapped, so memory does not grow
with the data); on a GPU, from padded tensors kept on the GPU (`PaddedRows`: a batch is one
indexing operation there, with no host work per step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsclf.data.tokenize import DOC_COLUMN, PAD_MULTIPLE, round_up
from newsclf.distillation import LABELED_COLUMN, TEACHER_COLUMN

# Per-row columns a batch carries to the loss besides the labels (a distilled run's).
LOSS_COLUMNS = (TEACHER_COLUMN, LABELED_COLUMN)

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa
    import torch
    from torch.utils.data import DataLoader
    from transformers import PreTrainedTokenizerBase

    from newsclf.config import TrainConfig

    Device = torch.device | str | None
    Batch = dict[str, torch.Tensor]


def train_loader(
    cfg: TrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    train_set: datasets.Dataset,
    device: Device = None,
) -> DataLoader:
    """Shuffled batches; with group_by_length, texts of similar length share a batch.

    Grouping keeps the batch order random (LengthGroupedSampler sorts within random
    mega-batches), so the gradient noise stays, but padding, which on AG News is about half
    of a randomly drawn batch, mostly goes. Each batch is padded in one vectorised operation
    (`token_rows`) rather than collated row by row in Python.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(cfg.seed)
    rows = token_rows(train_set, tokenizer.pad_token_id or 0, device)
    if cfg.group_by_length:
        # A plain list: the sampler reads the lengths one by one, and a dataset column read
        # item by item goes through Arrow each time (minutes at a million rows).
        lengths = rows.lengths.tolist()
        sampler = LengthGroupedSampler(cfg.batch_size, lengths=lengths, generator=generator)
    else:
        sampler = RandomSampler(range(len(rows)), generator=generator)
    return DataLoader(
        range(len(rows)),  # the loader hands row ids to `rows.collate`, which cuts the batch
        batch_sampler=BatchSampler(sampler, cfg.batch_size, drop_last=False),
        collate_fn=rows.collate,
        num_workers=cfg.num_workers,
        pin_memory=rows.device is None and torch.cuda.is_available(),
    )


def rows_device(num_workers: int, device: torch.device) -> torch.device:
    """Where the padded training rows live: on the GPU unless DataLoader workers cut the
    batches (worker processes cannot touch CUDA tensors)."""
    import torch

    return device if num_workers == 0 else torch.device("cpu")


def eval_loader(
    cfg: TrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    dataset: datasets.Dataset,
    device: Device = None,
) -> DataLoader:
    """Validation batches, shortest texts first, each padded to its own longest (as
    `infer_texts` batches): the same batches every epoch. A DataLoader so that Accelerate
    can shard it over processes."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader

    rows = token_rows(dataset, tokenizer.pad_token_id or 0, device, with_docs=True)
    order = torch.argsort(rows.lengths, stable=True).tolist()
    return DataLoader(
        range(len(rows)),
        batch_sampler=BatchSampler(order, cfg.eval_batch_size, drop_last=False),
        collate_fn=rows.collate,
        # Its own generator: drawing the loader's seed from the global RNG would shift the
        # dropout masks of the training that follows.
        generator=torch.Generator(),
    )


def token_rows(
    dataset: datasets.Dataset, pad_id: int, device: Device = None, with_docs: bool = False
) -> ArrowRows | PaddedRows:
    """The rows a loader cuts its batches from: padded tensors on a GPU, else the Arrow table
    (docs/performance.md, "Batching: what a batch costs"). `with_docs`: each batch also says
    which text each row is a window of (DOC_COLUMN), so validation can pool a text's windows."""
    import torch

    if device is not None and torch.device(device).type == "cuda":
        rows = PaddedRows(dataset, pad_id, PAD_MULTIPLE, device)
    else:
        rows = ArrowRows(dataset, pad_id, PAD_MULTIPLE)
    if with_docs and DOC_COLUMN in dataset.column_names:
        rows.docs = torch.tensor(dataset.with_format("arrow")[DOC_COLUMN].to_numpy())
    return rows


class ArrowRows:
    """A tokenized split read a batch at a time from its Arrow table: `collate(row_ids)` gathers
    the rows and pads them to their longest, rounded up to `multiple` (what
    DataCollatorWithPadding would give), in one numpy scatter per column. The table stays where
    datasets keeps it (memory-mapped from disk for a prepared split); only the lengths are held."""

    device = None  # batches are built on the host
    docs: torch.Tensor | None = None  # each row's text (token_rows with_docs)

    def __init__(self, dataset: datasets.Dataset, pad_id: int, multiple: int) -> None:
        import torch

        self.arrow = dataset.with_format("arrow")
        self.lengths = torch.from_numpy(self.arrow["length"].to_numpy().astype("int64"))
        self.multiple = multiple
        self.fills = {
            name: pad_id if name == "input_ids" else 0
            for name in ("input_ids", "token_type_ids", "attention_mask")
            if name in dataset.column_names
        }
        self.extra = [name for name in LOSS_COLUMNS if name in dataset.column_names]

    def __len__(self) -> int:
        return len(self.lengths)

    def collate(self, rows: list[int]) -> Batch:
        import torch

        table = self.arrow[list(rows)]
        width = round_up(int(self.lengths[rows].max()), self.multiple)
        batch = {
            name: _pad_arrow(table, name, width, fill, torch.long)
            for name, fill in self.fills.items()
        }
        batch["labels"] = label_tensor(table["label"])
        for name in self.extra:
            batch[name] = label_tensor(table[name])
        if self.docs is not None:
            batch[DOC_COLUMN] = self.docs[rows]
        return batch


class PaddedRows:
    """A tokenized split held as right-padded tensors; `collate(row_ids)` is a whole batch,
    cut to its longest row rounded up to `multiple` (what DataCollatorWithPadding would give).

    The token columns and labels live on `device`; the lengths stay on the host, so the
    width of a batch is known without waiting for the device. The columns are filled from the
    Arrow data a chunk at a time (never as Python lists of ints) and stored narrow (int32 ids,
    int8 masks), widened to int64 per batch: a 1,000,000-row split stays a fraction of what
    int64 storage would take (docs/training.md, "Large data")."""

    docs: torch.Tensor | None = None  # each row's text (token_rows with_docs), on the host

    def __init__(
        self, dataset: datasets.Dataset, pad_id: int, multiple: int, device: Device = None
    ) -> None:
        import torch

        self.device = torch.device(device or "cpu")
        arrow = dataset.with_format("arrow")
        self.lengths = torch.from_numpy(arrow["length"].to_numpy().astype("int64"))
        self.multiple = multiple
        longest = int(self.lengths.max()) if len(dataset) else 1
        width = round_up(longest, multiple)
        self.columns = {}
        for name, dtype in (
            ("input_ids", torch.int32),
            ("token_type_ids", torch.int8),
            ("attention_mask", torch.int8),
        ):
            if name in dataset.column_names:
                fill = pad_id if name == "input_ids" else 0
                padded = _pad_arrow(arrow, name, width, fill, dtype)
                self.columns[name] = padded.to(self.device)
        self.labels = label_tensor(arrow["label"]).to(self.device)
        self.extra = {
            name: label_tensor(arrow[name]).to(self.device)
            for name in LOSS_COLUMNS
            if name in dataset.column_names
        }

    def __len__(self) -> int:
        return len(self.labels)

    def collate(self, rows: list[int]) -> Batch:
        import torch

        index = torch.as_tensor(rows)
        width = round_up(int(self.lengths[index].max()), self.multiple)
        if self.device.type == "cuda":  # from pinned memory the copy does not wait for the GPU
            index = index.pin_memory().to(self.device, non_blocking=True)
        batch = {name: col[index, :width].long() for name, col in self.columns.items()}
        batch["labels"] = self.labels[index]
        batch.update({name: column[index] for name, column in self.extra.items()})
        if self.docs is not None:
            batch[DOC_COLUMN] = self.docs[rows].to(self.device)
        return batch


def label_tensor(column: pa.ChunkedArray | pa.Array) -> torch.Tensor:
    """A label column as the loss wants it: class ids (int64), or for multi-label (a list of
    0/1 per row) a float32 matrix, rows x classes. The same for LOSS_COLUMNS (the teacher's
    logits: a float32 matrix)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import torch

    if not pa.types.is_list(column.type):
        return torch.from_numpy(column.to_numpy().astype("int64"))
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float32)
    return torch.from_numpy(flat.reshape(len(column), -1))


def _pad_arrow(
    arrow: datasets.Dataset | pa.Table,
    name: str,
    width: int,
    fill: int,
    dtype: torch.dtype,
    chunk: int = 50_000,
) -> torch.Tensor:
    """One list<int> column of a dataset -> a right-padded [rows, width] tensor of `dtype`,
    scattered with numpy a chunk of rows at a time."""
    import numpy as np
    import pyarrow.compute as pc
    import torch

    out = torch.full((len(arrow), width), fill, dtype=dtype)
    view = out.numpy()
    for start in range(0, len(arrow), chunk):
        column = arrow[start : start + chunk][name]
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
        rows = np.repeat(np.arange(start, start + len(lengths)), lengths)
        firsts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        view[rows, np.arange(len(values)) - firsts] = values
    return out
