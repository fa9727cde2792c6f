"""A saved PyTorch model as a backend: one length-sorted batched loop, on the CPU or a GPU,
in fp32 or with bf16 weights (the precision rules are `newsclf.precision`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from newsclf.data.tokenize import PAD_MULTIPLE, round_up
from newsclf.precision import autocast_dtype, cast_for_inference, precision_name
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
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.task = ModelTask.from_config(model.config.to_dict(), names)
        self.max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
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
        return infer_texts(
            self.model,
            self.tokenizer,
            texts,
            batch_size=batch_size,
            max_length=self.max_length,
            dtype=self.dtype,
            return_embeddings=return_embeddings,
            progress=progress,
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
    batch_size: int = 128,
    max_length: int = 512,
    dtype: torch.dtype | None = None,
    return_embeddings: bool = False,
    progress: bool = False,
    pad_to_multiple_of: int = PAD_MULTIPLE,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (and [CLS] embeddings) for `texts`, in input order.

    Texts are tokenized once, then batched shortest-first so each batch pads to its own longest
    text rather than to the longest in the dataset: on AG News that halves the work. The token
    ids go to the device in one copy and every batch is cut there, so a GPU never waits on the
    host between batches.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    if not len(texts):  # the tokenizer refuses an empty batch
        return np.zeros((0, model.num_labels)), None
    columns, lengths = _encode(tokenizer, texts, max_length, device)
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
            width = round_up(longest, pad_to_multiple_of)
            batch = {name: col[rows, :width] for name, col in columns.items()}
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
    all_logits = torch.cat(logits).cpu().numpy()[inverse]
    all_emb = torch.cat(embeddings).cpu().numpy()[inverse] if return_embeddings else None
    return all_logits, all_emb


def _encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, device: torch.device
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Token columns padded to the longest text, on `device`, and each text's token count.

    The fast tokenizer pads in Rust, in parallel: one call and one host-to-device copy per
    column instead of a Python loop over rows.
    """

    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding="longest", return_tensors="pt"
    )
    lengths = enc["attention_mask"].sum(dim=1).numpy()
    pin = device.type == "cuda"
    columns = {
        name: (col.pin_memory() if pin else col).to(device, non_blocking=True)
        for name, col in enc.items()
    }
    return columns, lengths
