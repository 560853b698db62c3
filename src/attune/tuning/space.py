"""The search space of `attune tune`: a TOML file naming config keys and the range of each.

Keys are the keys of `attune train --config` (`[model]` and `[train]` tables, or dotted keys
at the top level); each value is a table saying how to draw it:

    [train]
    lr = { type = "float", low = 3e-4, high = 1e-2, log = true }
    batch_size = { type = "categorical", choices = [32, 64, 128] }

    [model]
    n_layers = { type = "int", low = 1, high = 3 }

`float` and `int` take `low` and `high` (both included), optional `log = true` (draw on a log
scale; `low` must then be > 0) and, for `int` or a linear `float`, an optional `step`.
`categorical` takes `choices`, a non-empty list. Every bound and choice is checked as a value
of its key (`model.dropout` must be >= 0 and < 1), so a bad file fails before any trial runs,
with an error naming the file and the key. `model.members` is not searched: `--members` sets
how many models a trial trains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from attune.training.config import ConfigError, TrainConfig, config_from_dict, read_toml

DEFAULT_SEARCH_SPACE = Path(__file__).with_name("search_space.toml")
"""The search space `attune tune` uses when given none (documented in the file)."""

Kind = Literal["float", "int", "categorical"]
Value = bool | int | float | str
_FIELDS: dict[str, set[str]] = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
_NOT_SEARCHED = {"model.members": "--members sets how many models a trial trains"}


@dataclass(frozen=True)
class ParamSpec:
    """How one config key is drawn."""

    key: str
    """The config key, `section.name` (`train.lr`)."""
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Value, ...] = ()

    def describe(self) -> str:
        """`float in [0.0003, 0.01], log scale` or `one of 32, 64, 128`."""
        if self.kind == "categorical":
            return "one of " + ", ".join(str(c) for c in self.choices)
        scale = ", log scale" if self.log else ""
        step = f", step {self.step:g}" if self.step is not None else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{scale}{step}"


def set_params(data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config tables `data` with each `section.key` of `params` set."""
    out = copy.deepcopy(data)
    for key, value in params.items():
        section, _, name = key.partition(".")
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"config key {section} is not a table")
        table[name] = value
    return out


def with_params(base: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """The validated config of the tables `base` with `params` set."""
    return config_from_dict(set_params(base, params))


def _flatten(data: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """`section.key` -> its spec table, from `[section]` tables or top-level dotted keys."""
    specs: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section}: expected a table of config keys")
        for name, spec in table.items():
            key = f"{section}.{name}"
            if not isinstance(spec, dict):
                raise ConfigError(
                    f"{source}: {key}: expected a table such as "
                    '{ type = "float", low = 0.1, high = 0.5 }'
                )
            specs[key] = spec
    return specs


def _context(key: str, value: Any) -> dict[str, Any]:
    """Other keys set so that only `key`'s own rules judge `value`: the rules across keys
    (`model.n_heads` divides `model.dim`, an ensemble scores by cosine) are checked per trial,
    where a draw that breaks one fails that trial and the search goes on."""
    other: dict[str, Any] = {"model.members": 1}
    if key == "model.dim":
        other["model.n_heads"] = 1
    if key == "model.n_heads" and isinstance(value, int) and value >= 1:
        other["model.dim"] = value
    return other


def _check_value(key: str, value: Any, source: str, what: str) -> None:
    """`value` is a valid value of config key `key`, or ConfigError naming file and key."""
    if isinstance(value, dict | list):
        raise ConfigError(f"{source}: {key}: {what} must be a single value (got {value!r})")
    try:
        with_params({}, {**_context(key, value), key: value})
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}, as its {what}") from None


def _check_key(key: str, source: str) -> None:
    """`key` is a config key of `[model]` or `[train]`, or ConfigError naming file and key."""
    section, _, name = key.partition(".")
    field = TrainConfig.model_fields.get(section)
    if field is None or field.annotation is None:
        raise ConfigError(f"{source}: unknown config key {key} (tables: model, train)")
    known = field.annotation.model_fields
    if name not in known:
        raise ConfigError(
            f"{source}: unknown config key {key} (known in [{section}]: {', '.join(known)})"
        )
    if key in _NOT_SEARCHED:
        raise ConfigError(f"{source}: {key} cannot be searched: {_NOT_SEARCHED[key]}")


def _number(spec: dict[str, Any], name: str, key: str, source: str, kind: Kind) -> float:
    value = spec.get(name)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or (kind == "int" and not isinstance(value, int)):
        expected = "an integer" if kind == "int" else "a number"
        raise ConfigError(f"{source}: {key}: {name} must be {expected} (got {value!r})")
    return float(value)  # type: ignore[arg-type]


def _spec(key: str, spec: dict[str, Any], source: str) -> ParamSpec:
    kind = spec.get("type")
    if kind not in _FIELDS:
        raise ConfigError(
            f"{source}: {key}: type must be one of float, int, categorical (got {kind!r})"
        )
    unknown = sorted(set(spec) - _FIELDS[kind])
    if unknown:
        allowed = ", ".join(sorted(_FIELDS[kind]))
        raise ConfigError(f"{source}: {key}: unknown field {unknown[0]} (a {kind} has {allowed})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{source}: {key}: choices must be a non-empty list")
        for choice in choices:
            _check_value(key, choice, source, "choice")
        return ParamSpec(key, kind, choices=tuple(choices))
    low, high = (_number(spec, name, key, source, kind) for name in ("low", "high"))
    log = spec.get("log", False)
    step = None if spec.get("step") is None else _number(spec, "step", key, source, kind)
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: {key}: log must be true or false (got {log!r})")
    if low >= high:
        raise ConfigError(f"{source}: {key}: low must be below high (got {low:g} >= {high:g})")
    if log and low <= 0:
        raise ConfigError(f"{source}: {key}: low must be > 0 on a log scale (got {low:g})")
    if log and step is not None:
        raise ConfigError(f"{source}: {key}: step cannot be combined with log = true")
    if step is not None and step <= 0:
        raise ConfigError(f"{source}: {key}: step must be > 0 (got {step:g})")
    for name, bound in (("low", spec["low"]), ("high", spec["high"])):
        _check_value(key, bound, source, name)
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def parse_search_space(data: dict[str, Any], source: str) -> list[ParamSpec]:
    """The specs of the tables `data` read from `source` (named in errors), in file order."""
    specs = []
    for key, spec in _flatten(data, source).items():
        _check_key(key, source)
        specs.append(_spec(key, spec, source))
    if not specs:
        raise ConfigError(f"{source}: no config key to search")
    return specs


def load_search_space(path: Path | None = None) -> list[ParamSpec]:
    """The search space of a TOML file (None: `DEFAULT_SEARCH_SPACE`), or ConfigError."""
    path = DEFAULT_SEARCH_SPACE if path is None else path
    return parse_search_space(read_toml(path), str(path))


__all__ = [
    "DEFAULT_SEARCH_SPACE",
    "ParamSpec",
    "load_search_space",
    "parse_search_space",
    "set_params",
    "with_params",
]
