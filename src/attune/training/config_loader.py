"""The one config loader: TOML files, `ATTUNE_<SECTION>__<KEY>` environment variables,
`--set section.key=value` overrides (in that order of precedence, last wins) and validation of
pydantic models (or dataclasses) with errors that name the key as TOML writes it.

`attune train` (`training.config.load_config`), `attune serve` (whose pydantic-settings
errors `describe_errors` words), `attune learn` and `attune config show` all use it, so a bad
value reads the same everywhere: `train.lr: must be > 0 (got -1)`.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails


class ConfigError(ValueError):
    """A config key is unknown or its value is invalid; the message names the key."""


T = TypeVar("T")

_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string"}
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _section(cls: Any, loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class at `loc` below `cls` (None where it is not a pydantic model)."""
    section = cls
    for part in loc:
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            return None
        field = section.model_fields.get(str(part))
        section = field.annotation if field is not None else None
    return section if isinstance(section, type) and issubclass(section, BaseModel) else None


def _allowed_range(cls: Any, loc: Sequence[str | int]) -> str | None:
    """`>= 0 and < 1` for a field constrained so, else None."""
    section = _section(cls, loc[:-1])
    field = section.model_fields.get(str(loc[-1])) if section is not None and loc else None
    bounds = [
        f"{symbol} {getattr(meta, name):g}"
        for meta in (field.metadata if field is not None else ())
        for name, symbol in _BOUNDS.items()
        if getattr(meta, name, None) is not None
    ]
    return " and ".join(bounds) or None


def _unknown(cls: Any, loc: list[str], value: Any, prefix: str) -> str:
    where = [prefix, *loc[:-1]] if prefix else loc[:-1]
    section = _section(cls, loc[:-1])
    if section is not None:
        known = ", ".join(section.model_fields)
    else:  # a plain dataclass (the encoder config of a checkpoint)
        known = ", ".join(f.name for f in dataclasses.fields(cls)) if not loc[:-1] else "?"
    key = ".".join([*where, loc[-1]])
    if isinstance(value, dict) and value:  # an unknown table: name its first key as well
        key = f"{key}.{next(iter(value))}"
    if not where:
        return f"unknown config key {key} (known: {known})"
    return f"unknown config key {key} (known in [{'.'.join(where)}]: {known})"


def _describe(error: ErrorDetails, cls: Any, prefix: str) -> str:
    loc = [str(part) for part in error["loc"]]
    kind, ctx = error["type"], error.get("ctx", {})
    key = ".".join([prefix, *loc] if prefix else loc)
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return _unknown(cls, loc, error["input"], prefix)
    if kind == "value_error":  # a check across fields: its message names the keys
        message = str(ctx.get("error", error["msg"]))
        return message if message.startswith(key) or not key else f"{key}: {message}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        rule = f"must be {_allowed_range(cls, error['loc']) or error['msg']}"
    elif kind == "literal_error":
        rule = f"must be one of {ctx['expected']}"
    elif kind.split("_")[0] in _KINDS and kind.endswith(("_type", "_parsing", "_from_float")):
        rule = f"expected {_KINDS[kind.split('_')[0]]}"
    elif kind == "missing":
        return f"{key}: required"
    else:
        rule = error["msg"][:1].lower() + error["msg"][1:]
    return f"{key or 'config'}: {rule} (got {error['input']!r})"


def describe_errors(err: ValidationError, cls: Any, prefix: str = "") -> list[str]:
    """One line per error of validating `cls`, naming the key as TOML writes it
    (`prefix.section.key`) and the allowed values: `train.lr: must be > 0 (got -1)`."""
    return [_describe(error, cls, prefix) for error in err.errors()]


def validate(cls: type[T], data: Any, prefix: str = "") -> T:
    """`data` (nested dicts, as TOML or JSON give them) validated as `cls`, or `ConfigError`
    naming every bad key; `prefix` is the table `data` was read from."""
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as err:
        raise ConfigError("; ".join(describe_errors(err, cls, prefix))) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file, or `ConfigError`."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


def _parse_value(raw: str) -> Any:
    """A `--set` value: TOML syntax (64, 1e-3, true, "x"), `none` for unset, else a bare string."""
    text = raw.strip()
    if text.lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def env_overrides(sections: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """`ATTUNE_<SECTION>__<KEY>=value` variables of the given sections as `section.key=value`
    overrides (`ATTUNE_TRAIN__LR=1e-3` -> `train.lr=1e-3`; nested tables with more `__`), in
    the same naming the server's settings read from the environment."""
    out = []
    for section in sections:
        prefix = f"ATTUNE_{section.upper()}__"
        for name in sorted(environ):
            if name.startswith(prefix) and len(name) > len(prefix):
                key = name[len(prefix) :].lower().replace("__", ".")
                out.append(f"{section}.{key}={environ[name]}")
    return out


def with_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` with `section.key=value` overrides set (`engine.ranking.lambda=0.3`
    reaches a nested table); the result is not validated yet."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"override {item!r}: expected section.key=value, e.g. train.lr=1e-3")
        table = data
        for depth, part in enumerate(parts[:-1]):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"unknown config key {key.strip()} ({where} is not a table)")
        table[parts[-1]] = _parse_value(raw)
    return data
