import tomllib
from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app
from attune.engine.config import EngineConfig
from attune.learning.finetune import FineTuneConfig
from attune.training import TrainConfig, config_from_dict, load_config

runner = CliRunner()


def _shown(*args: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["config", "show", *args])
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.output)


def test_show_prints_every_section_with_the_defaults() -> None:
    shown = _shown()
    assert list(shown) == ["model", "train", "engine", "learn"]
    assert shown["model"]["attn_dropout"] == 0.2 and shown["model"]["temperature"] == 0.05
    assert "max_len" not in shown["model"]  # unset: derived from the data, shown as a comment
    assert config_from_dict({"model": shown["model"], "train": shown["train"]}) == TrainConfig()
    assert EngineConfig.model_validate(shown["engine"]) == EngineConfig()
    assert FineTuneConfig.model_validate(shown["learn"]) == FineTuneConfig()


def test_show_applies_the_file_and_overrides_as_train_does(tmp_path: Path) -> None:
    path = tmp_path / "attune.toml"
    path.write_text("[model]\ndim = 32\nmembers = 1\n\n[train]\nlr = 5e-4\n")
    overrides = ["model.dim=128", "train.max_epochs=7", "model.max_len=30"]
    shown = _shown("--config", str(path), *(arg for o in overrides for arg in ("--set", o)))
    as_trained = load_config(path, overrides)
    assert config_from_dict({"model": shown["model"], "train": shown["train"]}) == as_trained
    assert (shown["model"]["dim"], shown["train"]["lr"], shown["model"]["max_len"]) == (
        128,
        5e-4,
        30,
    )


def test_show_documents_each_key() -> None:
    result = runner.invoke(app, ["config", "show"])
    lines = result.output.splitlines()
    assert lines[lines.index("dim = 64") - 1] == (
        "# Width of embeddings, attention and the interest vector."
    )
    assert "# max_len = (unset)" in lines


def test_show_reports_a_bad_key_cleanly() -> None:
    result = runner.invoke(app, ["config", "show", "--set", "train.lr=-1"])
    assert result.exit_code == 2
    assert "train.lr: must be > 0 (got -1)" in result.output
    result = runner.invoke(app, ["config", "show", "--set", "model.width=3"])
    assert result.exit_code == 2 and "unknown config key model.width" in result.output
