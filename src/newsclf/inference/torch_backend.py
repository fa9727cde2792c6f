"""A saved PyTorch model as a backend: one length-sorted batched loop, on the CPU or a GPU,
in fp32 or with bf16 weights (the precision rules are `newsclf.precision`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf.data.tokenize import round_up
from newsclf.precision import autocast_dtype, cast_for_inference, precision_name
from newsclf.reading import LEGACY_LIMIT, Reading, TextReader, Windows, pool
from newsclf.task import ModelTask

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# A dynamic batch holds texts of any lengths. Sorted and cut into sub-batches of 4, each pads
# to its own longest text; one pass over all 32 padded to the longest ran at half the speed
# on a 2-core CPU (docs/serving.md). A GPU takes its usual large batches.
CPU_ONLINE_BATCH = 4


class TorchBackend:
    """A sequence-classification model and its tokenizer, ready for inference."""

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, precision: str = "fp32"
    ) -> None:
        torch_device = next(model.parameters()).device
        self.dtype = autocast_dtype(precision, torch_device)
        self.model = cast_for_inference(model, self.dtype).eval()
        self.tokenizer = tokenizer
        config = model.config.to_dict()
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.task = ModelTask.from_config(config, names)
        limit = getattr(tokenizer, "model_max_length", LEGACY_LIMIT) or LEGACY_LIMIT
        self.reader = TextReader.from_transformers(tokenizer, Reading.from_config(config, limit))
        self.reading = self.reader.reading
        self.max_length = self.reading.max_length
        self.device = str(torch_device)
        self.precision = precision_name(self.dtype)
        self.batch_size = default_batch_size(torch_device)
        on_cpu = torch_device.type == "cpu"
        self.online_batch_size = CPU_ONLINE_BATCH if on_cpu else self.batch_size

    @classmethod
    def from_dir(
        cls, path: Path, device: str | None = None, precision: str = "fp32"
    ) -> TorchBackend:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # dtype is explicit: transformers 5 otherwise keeps a checkpoint's stored dtype.
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
        return cls(model.to(device), AutoTokenizer.from_pretrained(path), precision)

    def infer(
        self,
        texts: Sequence[str],
        batch_size: int,
        return_embeddings: bool = False,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return infer_windows(
            self.model,
            self.reader.read(texts),
            self.reading.pool,
            batch_size=batch_size,
            dtype=self.dtype,
            return_embeddings=return_embeddings,
            progress=progress,
            input_names=self.tokenizer.model_input_names,
            pad_id=self.tokenizer.pad_token_id or 0,
        )


def default_batch_size(device: torch.device) -> int:
    """Inference batch size: on a CPU, small length-sorted batches stay in cache (batch 32 ran
    ~20% faster than 128 on a 2-core EPYC); a GPU wants large ones."""
    return 256 if device.type == "cuda" else 32


def infer_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    reading: Reading | None = None,
    batch_size: int = 128,
    dtype: torch.dtype | None = None,
    return_embeddings: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and [CLS] embeddings) for `texts`, in input order, each text read as `reading`
    says (default: as the model's config says, `newsclf.reading`)."""
    if reading is None:
        limit = getattr(tokenizer, "model_max_length", LEGACY_LIMIT) or LEGACY_LIMIT
        reading = Reading.from_config(model.config.to_dict(), limit)
    windows = TextReader.from_transformers(tokenizer, reading).read(texts)
    return infer_windows(
        model, windows, reading.pool, batch_size=batch_size, dtype=dtype,
        return_embeddings=return_embeddings, progress=progress,
        input_names=tokenizer.model_input_names, pad_id=tokenizer.pad_token_id or 0,
    )  # fmt: skip


def infer_windows(
    model: PreTrainedModel,
    windows: Windows,
    how: str,
    *,
    batch_size: int,
    dtype: torch.dtype | None,
    return_embeddings: bool,
    progress: bool,
    input_names: Sequence[str],
    pad_id: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and [CLS] embeddings) per text from the windows it is read in: the windows are
    scored in length-sorted batches, several texts' windows sharing a batch, then pooled per
    text (`how`; embeddings always by their mean).

    Sorted shortest-first, each batch pads to its own longest window rather than to the
    longest of all: on AG News that halves the work. The token ids go to the device in one
    copy and every batch is cut there, so a GPU never waits on the host between batches.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    if not len(windows.tokens):  # nothing to read
        return np.zeros((0, model.num_labels)), None
    columns, lengths = _padded(windows, input_names, pad_id, device)
    order = np.argsort(lengths, kind="stable")
    index = torch.as_tensor(order).to(device)
    logits, embeddings = [], []
    was_training = model.training
    model.eval()
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="Predicting", disable=not progress, leave=False):
            rows = index[start : start + batch_size]
            longest = int(lengths[order[min(start + batch_size, len(order)) - 1]])  # sorted
            batch = {name: col[rows, : round_up(longest)] for name, col in columns.items()}
            with torch.autocast(
                device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                out = model(**batch, output_hidden_states=return_embeddings)
            # Kept on the device until the end: a .cpu() per batch would wait for the GPU.
            logits.append(out.logits.float())
            if return_embeddings:
                embeddings.append(out.hidden_states[-1][:, 0].float())
    model.train(was_training)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    all_logits = pool(torch.cat(logits).cpu().numpy()[inverse], windows.doc, how)
    if not return_embeddings:
        return all_logits, None
    return all_logits, pool(torch.cat(embeddings).cpu().numpy()[inverse], windows.doc, "mean")


def _padded(
    windows: Windows, input_names: Sequence[str], pad_id: int, device: torch.device
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """The windows as right-padded token columns on `device` (the model's input names among
    input_ids, attention_mask, token_type_ids), and each window's length. One host-to-device
    copy per column instead of one per batch."""
    import numpy as np
    import torch

    lengths = windows.lengths
    width = round_up(int(lengths.max()))
    ids = np.full((len(lengths), width), pad_id, dtype=np.int64)
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids[mask] = np.fromiter(
        (t for w in windows.ids for t in w), dtype=np.int64, count=int(lengths.sum())
    )
    columns = {"input_ids": ids, "attention_mask": mask.astype(np.int64)}
    if "token_type_ids" in input_names:
        columns["token_type_ids"] = np.zeros_like(ids)
    pin = device.type == "cuda"
    return {
        name: (t.pin_memory() if pin else t).to(device, non_blocking=True)
        for name, t in ((n, torch.from_numpy(c)) for n, c in columns.items())
    }, lengths
