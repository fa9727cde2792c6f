"""`newsclf export`: ONNX parity with PyTorch, the export as a model everywhere, bad exports."""

import importlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import synthetic_rows, write_csv
from newsclf import Classifier, ModelError, OutputError, export
from newsclf.cli import main
from newsclf.inference.onnx_backend import OnnxBackend
from newsclf.inference.torch_backend import TorchBackend

TEXTS = [
    "Federer wins his fifth Wimbledon title",
    "Oil prices climb as OPEC cuts output and investors wait for the central bank's decision",
    "New chip doubles laptop battery life",
    "short",
    "Peace talks resume in Geneva",
]
# fp32 ONNX Runtime vs PyTorch: the same float32 maths in another order of operations.
PROB_ATOL = 1e-4


@pytest.fixture(scope="module")
def sharp_dir(tiny_run, tmp_path_factory):
    """The tiny run's model with its classifier weights scaled up, so its probabilities are far
    from uniform and a drift in the pooled hidden state shows in them 40 times larger."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    best = tiny_run.run_dir / "best_model"
    model = AutoModelForSequenceClassification.from_pretrained(best, dtype=torch.float32)
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
    out = tmp_path_factory.mktemp("sharp")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(best).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def onnx_dir(sharp_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "onnx"
    info = export(sharp_dir, out)
    assert info["written_to"] == str(out)
    return out


def test_export_writes_a_self_describing_directory(onnx_dir, sharp_dir):
    names = {p.name for p in onnx_dir.iterdir()}
    assert {"model.onnx", "tokenizer.json", "config.json", "README.md", "export.json"} <= names
    assert "model.safetensors" not in names
    config = json.loads((onnx_dir / "config.json").read_text())
    assert config["id2label"] == json.loads((sharp_dir / "config.json").read_text())["id2label"]
    info = json.loads((onnx_dir / "export.json").read_text())
    assert info["weights"] == "fp32" and info["max_abs_prob_diff_vs_pytorch"] < PROB_ATOL
    assert "onnxruntime" in (onnx_dir / "README.md").read_text()
    assert not [p for p in onnx_dir.parent.iterdir() if p.name.startswith(".")]  # no staging


def test_onnx_matches_pytorch_probabilities_and_embeddings(onnx_dir, sharp_dir):
    """Max absolute probability difference asserted: PROB_ATOL (1e-4), at batch sizes that mix
    lengths (dynamic batch and sequence axes)."""
    torch_clf = Classifier.from_pretrained(sharp_dir, device="cpu")
    onnx_clf = Classifier.from_pretrained(onnx_dir)
    assert isinstance(onnx_clf.backend, OnnxBackend)
    assert isinstance(torch_clf.backend, TorchBackend)
    assert (onnx_clf.device, onnx_clf.precision) == ("cpu", "fp32")
    assert onnx_clf.label_names == torch_clf.label_names
    expected = torch_clf.infer(TEXTS, return_embeddings=True)
    for batch_size in (1, 2, 32):
        got = onnx_clf.infer(TEXTS, return_embeddings=True, batch_size=batch_size)
        np.testing.assert_allclose(got.probabilities, expected.probabilities, atol=PROB_ATOL)
        np.testing.assert_allclose(got.embeddings, expected.embeddings, atol=1e-3)
    preds = onnx_clf.predict(TEXTS)
    assert [p.label for p in preds] == [p.label for p in torch_clf.predict(TEXTS)]
    assert onnx_clf.predict([]) == [] and onnx_clf.infer([]).probabilities.shape == (0, 4)


def test_onnx_path_refuses_what_it_cannot_do(onnx_dir):
    with pytest.raises(ModelError, match="runs on the CPU"):
        Classifier.from_pretrained(onnx_dir, device="cuda")
    with pytest.raises(ValueError, match="text 2 of 2 is blank"):
        Classifier.from_pretrained(onnx_dir).predict(["fine", " "])


def test_predict_evaluate_and_serve_take_the_export(onnx_dir, sharp_dir, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from newsclf.serve.app import create_app

    assert main(["predict", str(onnx_dir), *TEXTS[:2], "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = Classifier.from_pretrained(sharp_dir, device="cpu").predict(TEXTS[:2])
    for row, pred in zip(rows, expected, strict=True):
        assert row["label"] == pred.label
        assert row["probabilities"] == pytest.approx(pred.probabilities, abs=PROB_ATOL)

    data = write_csv(tmp_path / "news.csv", synthetic_rows(24))
    scores = {}
    for name, model in (("onnx", onnx_dir), ("torch", sharp_dir)):
        output = tmp_path / f"{name}.json"
        assert main(["evaluate", str(model), "--data", str(data), "--output", str(output)]) == 0
        scores[name] = json.loads(output.read_text())
    assert scores["onnx"]["num_samples"] == 24
    assert scores["onnx"]["confusion_matrix"] == scores["torch"]["confusion_matrix"]

    clf = Classifier.from_pretrained(onnx_dir)
    http = TestClient(create_app(clf, onnx_dir))
    body = http.post("/predict", json={"texts": TEXTS[:2]}).json()
    assert [row["label"] for row in body] == [p.label for p in expected]


def test_int8_export_loads_and_predicts(sharp_dir, tmp_path, capsys):
    out = tmp_path / "int8"
    assert main(["export", str(sharp_dir), str(out), "--int8"]) == 0
    assert "int8" in capsys.readouterr().out
    info = json.loads((out / "export.json").read_text())
    assert info["weights"].startswith("int8")
    fp32_size = (sharp_dir / "model.safetensors").stat().st_size
    assert (out / "model.onnx").stat().st_size < fp32_size / 2  # int8 weights, not fp32
    clf = Classifier.from_pretrained(out)
    assert clf.precision == "int8"  # what /health and the benchmarks report
    preds = clf.predict(TEXTS)
    assert len(preds) == len(TEXTS)
    for pred in preds:  # not its accuracy: a tiny model's int8 answers are not the point
        assert sum(pred.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_model_without_token_type_ids_exports(tiny_distilbert_dir, tmp_path):
    info = export(tiny_distilbert_dir, tmp_path / "distil")
    assert info["max_abs_prob_diff_vs_pytorch"] < PROB_ATOL
    clf = Classifier.from_pretrained(tmp_path / "distil")
    assert clf.backend.input_names == ["input_ids", "attention_mask"]
    assert clf.infer(TEXTS, return_embeddings=True).embeddings.shape == (len(TEXTS), 32)


def test_out_dir_is_refused_unless_overwrite_and_never_left_half_written(
    onnx_dir, sharp_dir, tmp_path, capsys, monkeypatch
):
    export_module = importlib.import_module("newsclf.export")  # the package re-exports export()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert main(["export", str(sharp_dir), str(taken)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--overwrite" in err
    assert main(["export", str(onnx_dir), str(tmp_path / "again")]) == 2
    assert "already an ONNX export" in capsys.readouterr().err

    def broken(source, stage, int8):
        (stage / "model.onnx").write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export_module, "_build", broken)
    with pytest.raises(RuntimeError, match="crashed"):
        export(sharp_dir, taken, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no staging dir left
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]  # the old one untouched

    def fine(source, stage, int8):
        (stage / "model.onnx").write_bytes(b"new")
        return {}

    monkeypatch.setattr(export_module, "_build", fine)
    export(sharp_dir, taken, overwrite=True)
    assert [p.name for p in taken.iterdir()] == ["model.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("damage", ["no_model", "no_tokenizer", "class_count", "corrupt"])
def test_bad_export_dir_is_one_line_exit_2(onnx_dir, tmp_path, capsys, damage):
    bad = shutil.copytree(onnx_dir, tmp_path / "bad")
    if damage == "no_model":
        (bad / "model.onnx").unlink()
        expected = "missing weights (model.onnx)"
    elif damage == "no_tokenizer":
        (bad / "tokenizer.json").unlink()
        expected = "missing tokenizer.json"
    elif damage == "class_count":
        config = json.loads((bad / "config.json").read_text())
        config["id2label"] = {"0": "World", "1": "Sports", "2": "Business"}
        (bad / "config.json").write_text(json.dumps(config))
        expected = "outputs 4 classes but"
    else:
        (bad / "model.onnx").write_bytes(b"not a graph")
        expected = "cannot be loaded by ONNX Runtime"
    for argv in (["predict", str(bad), "some text"], ["evaluate", str(bad), "--data", "x.csv"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"newsclf {argv[0]}: error:")
    assert main(["predict", str(bad), "some text"]) == 2
    assert expected in capsys.readouterr().err
    with pytest.raises(ModelError, match="Re-export|Expected"):
        Classifier.from_pretrained(bad)


def test_export_help_and_onnx_predict_import_no_torch(onnx_dir):
    """`export --help` stays light, and an export predicts without torch or transformers'
    model code (torch-free deployment)."""
    code = (
        "import sys\n"
        "from newsclf.cli import main\n"
        "assert main(['export', '--help']) == 0\n"
        "print('help heavy:', [m for m in ('torch', 'onnxruntime') if m in sys.modules])\n"
        "from newsclf import Classifier\n"
        f"print(Classifier.from_pretrained({str(onnx_dir)!r}).predict('Stocks rally')[0].label)\n"
        "print('predict torch:', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert "help heavy: []" in lines and lines[-1] == "predict torch: False"


def test_cli_predict_on_an_export_imports_neither_torch_nor_transformers(onnx_dir):
    """The command's own set-up (quieting transformers' loading bars) must not import it for an
    export: that import alone doubled the cold start of `newsclf predict EXPORT "text"`."""
    code = (
        "import sys\n"
        "from newsclf.cli import main\n"
        f"assert main(['predict', {str(onnx_dir)!r}, 'Stocks rally']) == 0\n"
        "print('heavy:', [m for m in ('torch', 'transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy: []", out.stdout


def test_output_error_for_a_file_as_out_dir(sharp_dir, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        export(sharp_dir, target)
