"""The speed path: length-grouped batches, sorted inference, reduced precision, the benchmark."""

import dataclasses
import json

import numpy as np
import pytest
from benchmarks import bench_infer, bench_speed

from helpers import tiny_config
from newsclf import Classifier
from newsclf.inference.torch_backend import infer_texts


def _padding_share(loader) -> float:
    real = padded = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
    return 1 - real / padded


def test_length_grouped_batches_pad_less_than_random(tmp_path, tiny_bert_dir, tokenizer):
    from newsclf.data import load_data, tokenize
    from newsclf.training.loaders import train_loader

    cfg = tiny_config(tiny_bert_dir, tmp_path, max_train_samples=640, max_length=128)
    train_set = tokenize(load_data(cfg).splits["train"], tokenizer, cfg.max_length)
    grouped = _padding_share(train_loader(cfg, tokenizer, train_set))
    random = _padding_share(
        train_loader(dataclasses.replace(cfg, group_by_length=False), tokenizer, train_set)
    )
    assert grouped < 0.5 * random, (grouped, random)
    batches = list(train_loader(cfg, tokenizer, train_set))
    assert sum(len(b["labels"]) for b in batches) == len(train_set)  # every row, once


@pytest.mark.parametrize("kind", ["ArrowRows", "PaddedRows"])
def test_batches_equal_the_collators(tmp_path, tiny_bert_dir, tokenizer, kind):
    from transformers import DataCollatorWithPadding

    from newsclf.data import load_data, tokenize
    from newsclf.training import loaders

    cfg = tiny_config(tiny_bert_dir, tmp_path, max_train_samples=64, max_length=128)
    train_set = tokenize(load_data(cfg).splits["train"], tokenizer, cfg.max_length)
    rows = [5, 0, 17, 33]
    ours = getattr(loaders, kind)(train_set, tokenizer.pad_token_id, 8).collate(rows)
    features = [train_set.remove_columns(["length", "doc"])[i] for i in rows]
    theirs = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)(features)
    assert set(ours) == set(theirs)
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype, name
        assert ours[name].tolist() == theirs[name].tolist(), name


def test_sorted_inference_keeps_input_order(tiny_bert_dir):
    clf = Classifier.from_pretrained(tiny_bert_dir, device="cpu")
    texts = ["short", "a much longer text " * 12, "medium length text here", "x " * 40, "ok"]
    model, tokenizer = clf.backend.model, clf.backend.tokenizer
    batched, _ = infer_texts(model, tokenizer, texts, batch_size=2)
    one_by_one = np.concatenate(
        [infer_texts(model, tokenizer, [t], batch_size=1)[0] for t in texts]
    )
    np.testing.assert_allclose(batched, one_by_one, atol=1e-4)


@pytest.mark.skipif(
    not __import__("torch").backends.mkldnn.is_available(), reason="bf16 CPU kernels need oneDNN"
)
def test_bf16_inference_agrees_with_fp32(tiny_run):
    texts = [f"Stocks rally as oil prices fall, day {i}" for i in range(8)] + [
        "Federer wins the final",
        "New chip doubles battery life",
    ]
    fp32 = Classifier.from_pretrained(tiny_run.run_dir, device="cpu", precision="fp32")
    bf16 = Classifier.from_pretrained(tiny_run.run_dir, device="cpu", precision="bf16")
    p32, p16 = fp32.infer(texts).probabilities, bf16.infer(texts).probabilities
    assert np.abs(p32 - p16).max() < 0.03  # bf16 keeps 8 bits of mantissa


@pytest.mark.parametrize(
    ("native_bf16", "auto_on_cpu", "dtype", "name"),
    [
        (True, True, "bfloat16", "bf16"),
        (False, True, None, "fp32"),
        (True, False, None, "fp32"),
        (False, False, None, "fp32"),
    ],
)
def test_auto_precision_follows_the_hardware(monkeypatch, native_bf16, auto_on_cpu, dtype, name):
    """On a CPU without CUDA, 'auto' is bf16 exactly when the chip has native bf16 (and the
    switch allows it): each patched case is checked against its known answer."""
    import torch

    from newsclf import precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    monkeypatch.setattr(precision, "AUTO_BF16_ON_CPU", auto_on_cpu)
    cpu = torch.device("cpu")
    expected = getattr(torch, dtype) if dtype else None
    assert precision.autocast_dtype("auto", cpu) == expected
    assert precision.training_dtype("auto") == expected
    assert precision.precision_name(precision.training_dtype("auto")) == name
    # Explicit precisions ignore the hardware.
    assert precision.autocast_dtype("bf16", cpu) == torch.bfloat16
    assert precision.autocast_dtype("fp16", cpu) == torch.float16
    assert precision.autocast_dtype("fp32", cpu) is None
    assert precision.training_dtype("fp32") is None
    assert precision.training_dtype("bf16") == torch.bfloat16


def test_native_bf16_is_read_from_torch(monkeypatch):
    """cpu_has_native_bf16 asks torch about AVX512-BF16 and AMX, either one sufficing."""
    import torch

    from newsclf.precision import cpu_has_native_bf16

    for avx512_bf16, amx, expected in [
        (True, False, True),
        (False, True, True),
        (False, False, False),
    ]:
        monkeypatch.setattr(
            torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False
        )
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert cpu_has_native_bf16() is expected


def test_precision_names_and_inference_weights():
    """The names /health and the benchmarks show, and the dtype inference weights are kept in."""
    import torch

    from newsclf.precision import cast_for_inference, precision_name

    assert [precision_name(d) for d in (None, torch.bfloat16, torch.float16)] == [
        "fp32",
        "bf16",
        "fp16",
    ]
    layer = torch.nn.Linear(2, 2)
    assert cast_for_inference(layer, None).weight.dtype == torch.float32
    assert cast_for_inference(layer, torch.bfloat16).weight.dtype == torch.bfloat16


def test_on_epoch_callback_can_stop_training(tmp_path, tiny_bert_dir, tokenizer):
    from newsclf.data import load_data, tokenize
    from newsclf.training import build_model, fit

    cfg = tiny_config(tiny_bert_dir, tmp_path, epochs=3, max_train_samples=32, max_eval_samples=16)
    data = load_data(cfg)
    train_set = tokenize(data.splits["train"], tokenizer, cfg.max_length)
    model = build_model(cfg.model, data.label_names)
    seen = []
    history = fit(
        cfg, model, tokenizer, train_set, data, tmp_path, lambda e, h: seen.append(e) or True
    )
    assert seen == [1] and len(history.epochs) == 1
    assert (tmp_path / "best_model" / "model.safetensors").is_file()


def test_runs_with_different_precisions_in_one_process(tmp_path, tiny_bert_dir):
    from newsclf import train

    small = dict(max_train_samples=32, max_eval_samples=16, max_test_samples=16)
    for precision in ("bf16", "fp32", "auto"):
        cfg = tiny_config(tiny_bert_dir, tmp_path, name=precision, precision=precision, **small)
        assert train(cfg).test_metrics["num_samples"] == 16


def test_benchmark_helpers_count_padding():
    lengths = [3, 5, 9, 2]
    assert bench_infer.padded_tokens(lengths, [[0, 1], [2, 3]]) == 2 * 5 + 2 * 9
    assert bench_infer.padded_tokens(lengths, [[0, 1], [2, 3]], multiple=8) == 2 * 8 + 2 * 16
    assert bench_infer.chunks([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]


def test_benchmark_quick_mode_runs_both_loops_and_writes_json(tmp_path, tiny_bert_dir):
    out = tmp_path / "bench.json"
    argv = ["--quick", "--model", str(tiny_bert_dir), "--out", str(out)]
    bench_speed.main([*argv, "--workdir", str(tmp_path / "work"), "--int8"])
    report = json.loads(out.read_text())
    phases = report["phases"]
    assert {"train_tutorial", "train_newsclf", "infer_pipeline", "infer_newsclf"} <= set(phases)
    for name in ("train_tutorial", "train_newsclf"):
        assert phases[name]["train"]["samples_per_s"] > 0
        assert 0 <= phases[name]["epochs"][0]["test_accuracy"] <= 1
    assert phases["infer_newsclf"]["rss_peak_mib"] > 0
    agreement = report["summary"]["agreement_with_pipeline"]
    fp32 = next(v for k, v in agreement.items() if k.startswith("fp32, batch 32, length"))
    assert fp32 >= 0.9  # same model; only padding numerics differ from one-by-one
    assert report["summary"]["infer_newsclf_vs_pipeline"] > 0


@pytest.mark.gpu
def test_gpu_path_trains_with_bf16_and_compile(tmp_path, tiny_bert_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from newsclf import train
    from newsclf.precision import training_dtype

    cfg = tiny_config(tiny_bert_dir, tmp_path, compile=True, precision="auto")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    assert training_dtype(cfg.precision) == expected
    result = train(cfg)
    assert result.test_metrics["num_samples"] == 80
