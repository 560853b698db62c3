"""Every command's --help reads cleanly at 80 columns: no line wider, a metavar (not a type
name) after each option that takes a value, the environment variable of each option that
reads one, and `[required]` on each required option."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from attune.cli.main import app

runner = CliRunner()
WIDTH = 80
# Typer's type displays (`<path>`, `<int range>`, `<list[str]>`) and Click's type names.
TYPE_NAME = re.compile(r"<\w[^>]*>|\b(TEXT|PATH|INTEGER|FLOAT|BOOLEAN|FILENAME|DIRECTORY)\b")


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.output


def _entries(text: str) -> dict[str, str]:
    """Each option's or argument's help entry (its lines joined, spaces normalised), keyed by
    its first name: an entry starts on a line indented by two spaces, the wrapped help of the
    entry is indented further."""
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.match(r"^  \S", line):
            current = entries.setdefault(line.split()[0].rstrip(","), [])
        if current is not None and line.startswith("  "):
            current.append(line)
        elif not line.startswith(" "):
            current = None
    return {name: " ".join(" ".join(lines).split()) for name, lines in entries.items()}


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "attune")
def test_help_reads_cleanly_at_80_columns(path: tuple[str, ...]) -> None:
    text = _help(path)
    command = dict(COMMANDS)[path]
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, wide
    entries = _entries(text)
    for param in command.params:
        if param.name == "help" or param.hidden:
            continue
        is_option = param.param_type_name == "option"
        takes_value = not is_option or not (param.is_flag or param.count)
        if takes_value:
            assert param.metavar, f"{param.opts[0]} has no metavar"
        entry = entries[param.opts[0] if is_option else param.metavar]
        names = ", ".join(param.opts) if is_option else ""
        lead = f"{names} {param.metavar}".strip() if takes_value else names
        assert entry.startswith(lead), entry
        if is_option:  # Typer adds an argument's type after its name
            assert not TYPE_NAME.match(entry[len(lead) :].lstrip()), entry
        if param.envvar:
            assert f"env var: {param.envvar}" in entry, entry
        if param.required:
            assert "required]" in entry, entry


def test_serve_shows_each_settings_variable_and_what_is_required() -> None:
    entries = _entries(_help(("serve",)))
    command = dict(COMMANDS)[("serve",)]
    for param in command.params:
        if param.name != "help":
            assert param.envvar == f"ATTUNE_{param.name.upper()}"
            assert f"[env var: ATTUNE_{param.name.upper()}]" in entries[param.opts[0]]
    # Not Click-required (the variable or the TOML file may give them), so said in words.
    assert "Required unless --store" in entries["--db"]
    assert "Required" in entries["--model"]


def test_serve_reads_its_options_from_the_environment(tmp_path: Any) -> None:
    """The variables the help names are the ones the settings read: a missing model given by
    ATTUNE_MODEL is refused as the option would be."""
    env = {"ATTUNE_DB": str(tmp_path / "none.db"), "ATTUNE_MODEL": str(tmp_path / "no-model")}
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "no-model" in result.output or "none.db" in result.output
