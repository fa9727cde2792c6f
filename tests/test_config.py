import sys

import pytest

from newsclf import ConfigError, TrainConfig
from newsclf.cli import main


def test_defaults_are_valid_and_offline():
    cfg = TrainConfig().validate()
    assert cfg.data == "ag_news"
    assert cfg.model.startswith("packaged:")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("epochs", 0, "epochs=0"),
        ("val_fraction", 1.5, "val_fraction=1.5"),
        ("precision", "fp8", "precision='fp8'"),
        ("learning_rate", -1.0, "learning_rate=-1.0"),
        ("name", "a/b", "name='a/b'"),
        ("max_train_samples", 0, "max_train_samples=0"),
    ],
)
def test_validation_names_field_and_value(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        TrainConfig(**{field: value}).validate()


def test_yaml_round_trip_and_unknown_keys(tmp_path):
    cfg = TrainConfig(name="x", epochs=3, label_names=["a", "b"])
    cfg.save_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == cfg
    (tmp_path / "bad.yaml").write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match="epochz"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")


def test_cli_flags_override_yaml(tmp_path, monkeypatch):
    seen = {}
    # The CLI calls newsclf.training.train: patch it where the CLI looks it up.
    monkeypatch.setattr(
        sys.modules["newsclf.training"], "train", lambda cfg: seen.setdefault("cfg", cfg)
    )
    (tmp_path / "run.yaml").write_text("epochs: 5\nbatch_size: 8\nname: fromyaml\n")
    assert (
        main(["train", "--config", str(tmp_path / "run.yaml"), "--epochs", "2", "--no-visuals"])
        == 0
    )
    cfg = seen["cfg"]
    assert (cfg.epochs, cfg.batch_size, cfg.name, cfg.visuals) == (2, 8, "fromyaml", False)


def test_cli_reports_config_errors_without_traceback(capsys):
    assert main(["train", "--epochs", "0"]) == 2
    assert "epochs=0" in capsys.readouterr().err
