"""`attune config show`: the effective configuration, every key with its value, as TOML.

Only typer is imported at module level: the config models pull in torch, and `attune --help`
should not wait for it.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import typer

config_app = typer.Typer(
    help="Inspect the configuration.", no_args_is_help=True, rich_markup_mode=None
)

_HEADERS = {
    "model": "read by `attune train` (its --config file and --set overrides apply)",
    "train": "read by `attune train` (its --config file and --set overrides apply)",
    "engine": "defaults of `attune serve`: its settings file's [engine] table, "
    "ATTUNE_ENGINE__<KEY> variables",
    "learn": "defaults of `attune learn` (its options)",
}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@config_app.command("show")
def show(
    config: Path | None = typer.Option(
        None,
        "--config",
        metavar="FILE",
        help="TOML config file, as given to `attune train --config`.",
    ),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override a key, e.g. model.dim=128."
    ),
) -> None:
    """Print the effective config as TOML: [model] and [train] as `attune train` would use them
    with the same --config and --set, then the [engine] and [learn] defaults; each key
    with its one-line description."""
    from attune.cli.errors import user_errors
    from attune.engine.config import EngineConfig
    from attune.learning.finetune import FineTuneConfig
    from attune.training.config import ConfigError, load_config

    with user_errors(ConfigError):
        train_config = load_config(config, set_)
    sections: dict[str, Any] = dict(train_config) | {
        "engine": EngineConfig(),
        "learn": FineTuneConfig(),
    }
    lines: list[str] = []
    for name, value in sections.items():
        lines.append(f"# [{name}]: {_HEADERS[name]}")
        _table(name, type(value), value.model_dump(mode="json"), lines)
    typer.echo("\n".join(lines).rstrip())


def _table(name: str, cls: Any, values: dict[str, Any], lines: list[str]) -> None:
    """`[name]` with its keys (each after its description), then its sub-tables."""
    lines.append(f"[{name}]")
    subtables = []
    for key, value in values.items():
        field = cls.model_fields[key] if cls is not None else None
        sub = _model_class(field.annotation if field else None, value)
        if sub is not None:
            subtables.append((f"{name}.{key}", sub, value))
            continue
        doc = field.description if field is not None and field.description else ""
        lines += [f"# {line.strip()}" for line in doc.splitlines()]
        if value is None:
            lines.append(f"# {_key(key)} = (unset)")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    lines.append("")
    for sub_name, sub_cls, sub_values in subtables:
        _table(sub_name, sub_cls, sub_values, lines)


def _model_class(annotation: Any, value: Any) -> Any:
    """The pydantic model a dict value was dumped from (one member of a union), else None."""
    if not isinstance(value, dict):
        return None
    for option in typing.get_args(annotation) or (annotation,):
        fields = getattr(option, "model_fields", None)
        if isinstance(option, type) and fields is not None and set(value) <= set(fields):
            return option
    return None


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    """A TOML value: JSON's spelling is TOML's for these types, except booleans and tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(pairs) + "}"
    return json.dumps(value)
