"""The CLI's option values written out in its light modules agree with the library's."""

from __future__ import annotations

import typing
from typing import Any

import typer
from typer.testing import CliRunner

from attune import __version__
from attune.cli import data as data_cli
from attune.cli.main import app
from attune.data.importers import OnError
from attune.data.importers.fetch import KNOWN_DATASETS
from attune.learning.finetune import FineTuneConfig

runner = CliRunner()


def _params(*path: str) -> dict[str, Any]:
    """The parameters of the command at `path` (e.g. "data", "import"), by name."""
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params}


def test_on_error_choices_are_the_importers() -> None:
    assert set(typing.get_args(data_cli.OnErrorChoice)) == {e.value for e in OnError}
    assert _params("data", "import")["on_error"].default == OnError.FAIL.value


def test_fetch_lists_the_known_datasets() -> None:
    assert set(data_cli.DATASETS) == set(KNOWN_DATASETS)


def test_learn_defaults_are_the_fine_tune_configs() -> None:
    params, config = _params("learn"), FineTuneConfig()
    for name in ("min_events", "epochs", "lr", "tolerance"):
        assert params[name].default == getattr(config, name), name


def test_learn_keeps_the_registrys_default_of_rejected_versions() -> None:
    from attune.learning.registry import KEEP_REJECTED

    assert _params("learn")["keep_rejected"].default == KEEP_REJECTED


def test_version_and_help() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"attune {__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("data", "train", "learn", "serve", "keys"))
