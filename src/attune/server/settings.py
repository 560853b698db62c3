"""Typed server settings from (highest first) arguments, `ATTUNE_*` environment variables and a
TOML file; every field documented with its default.

The TOML file is named by `config` (or `ATTUNE_CONFIG`); its keys are the field names, with an
`[engine]` table for `EngineConfig`. Nested environment variables use `__`:
`ATTUNE_ENGINE__UNKNOWN_ITEMS=reject`.
"""

from __future__ import annotations

import ipaddress
import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from attune.data.pseudonyms import Pseudonyms, load_optional
from attune.engine.config import EngineConfig
from attune.server.input_limits import InputLimits
from attune.stores import shared_storage, storage_path


class RouteRate(BaseModel):
    """One route class's token bucket, per caller: `rate` requests per second sustained, up to
    `burst` at once after an idle spell."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    rate: float = Field(gt=0.0, le=1e6)
    """Sustained requests per second: a number, or `N/second`, `N/minute`, `N/hour`,
    `N/day`, `N per 10 seconds` (the `limits` library's notation)."""
    burst: int | None = Field(None, ge=1, le=10_000_000)
    """Size of the bucket: how many requests a caller may send at once. None = one second's
    worth of `rate` (at least 1). With a low `rate` (`10000/day`), a `burst` as large makes
    a quota that may be spent at once and comes back gradually."""

    @field_validator("rate", mode="before")
    @classmethod
    def _per_second(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        from limits import parse  # 0.2 s to import: only for settings that use the notation

        try:
            item = parse(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate such as '100/second' or '6000/minute'"
            ) from None
        return item.amount / item.get_expiry()

    @property
    def capacity(self) -> int:
        """The bucket's size: `burst`, else one second's worth."""
        return self.burst if self.burst is not None else max(1, math.ceil(self.rate))


class RateLimits(BaseModel):
    """Token buckets per caller (the key id of a valid API key, else the client address) and
    per route class. A class left unset is not limited; by default none is."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    storage: str = Field("memory://", pattern=r"^[a-z][a-z0-9+]*://")
    """Where the buckets live. `memory://`: in this process, exact token buckets, about a
    microsecond a request. Any other `limits` storage URI (`redis://host:6379`,
    `redis+sentinel://...`, `memcached://...`) shares them between servers, as sliding
    windows (see docs/security.md); its client library must be installed."""
    ingest: RouteRate | None = None
    """`POST /v1/events`, `PUT /v1/items[/{id}]`, `PUT /v1/users/{id}`."""
    recommend: RouteRate | None = None
    """Recommendations (GET and POST), explanations, history, similar items."""
    admin: RouteRate | None = None
    """Everything else under `/v1` (erasure, models, keys, directory, stats). Health,
    metrics, docs and the console are never limited."""

    @property
    def classes(self) -> dict[str, RouteRate]:
        """The limited route classes and their buckets."""
        given = {"ingest": self.ingest, "recommend": self.recommend, "admin": self.admin}
        return {name: rate for name, rate in given.items() if rate is not None}


class ServerSettings(BaseSettings):
    """How `attune serve` runs: what it serves, where it listens, and its limits."""

    model_config = SettingsConfigDict(
        env_prefix="ATTUNE_",
        env_nested_delimiter="__",
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
    )

    db: Path | None = None
    """SQLite database holding events, catalogue and users (see `attune data import`); give
    this or `store`."""
    store: str | None = Field(None, pattern=r"^[a-z][a-z0-9+]*://")
    """Storage URL instead of `db`: `redis://host:6379/0`, `rediss://` (TLS),
    `redis+cluster://host:port` (Redis Cluster, any one node), or `sqlite:///path.db`. On
    Redis any number of servers (and `workers`) share the users, items and events."""
    workers: int = Field(1, ge=1, le=256)
    """Server processes on the one port (uvicorn workers), each with its own engine over the
    shared store; more than one needs a shared store (Redis): SQLite is owned by one process."""
    store_poll_s: float = Field(1.0, gt=0.0, le=3600.0)
    """On a shared store: how often the server reads the catalogue and user-attribute changes
    other servers stored (they reach this server's item index within this many seconds, plus
    the time to embed the changed items)."""
    model: Path
    """A model registry (see `attune models`; the server follows its current version) or a
    single checkpoint directory from `attune train`."""
    allow_mismatch: bool = False
    """Serve a model that knows under half of the store's items (one trained on other data;
    most lists would then come from attributes or popularity). Off, the server refuses to
    start; either way it logs the share it knows (`model catalogue fit`)."""
    model_poll_s: float = Field(2.0, gt=0.0)
    """How often the server checks the model registry for a promoted or rolled-back version."""
    config: Path | None = None
    """TOML file these settings were read from (also `ATTUNE_CONFIG`); None = no file."""
    host: str = "127.0.0.1"
    """Address to bind. Anything but loopback requires API keys."""
    port: int = Field(8000, ge=0, le=65535)
    """TCP port to bind (0 = any free port)."""
    keys_file: Path | None = None
    """API keys file (hashes, scopes, and whether authentication is on); None =
    `<db>.keys.json`, or the keys kept in the store (Redis). Authentication is off until the
    first key is created (and after `attune keys disable-auth`); off, the server only binds
    to loopback."""
    pseudonym_key_file: Path | None = None
    """Key file of the keyed pseudonyms of user ids (also `ATTUNE_PSEUDONYM_KEY_FILE`; see
    docs/privacy.md, `attune users new-key`). Given, every user id a request carries is
    replaced by its HMAC-SHA256 under the file's key chain before the engine stores, logs or
    looks it up: the store holds no raw id, and requests by raw id work as before. The same
    file must be given to `attune data import` and `attune train --data`. None = raw ids."""
    max_body_bytes: int = Field(4 * 2**20, ge=1024)
    """Largest accepted request body; larger ones get 413."""
    access_log: bool = False
    """Log every request (uvicorn's access log); off by default, `/metrics` has the counts."""
    log_level: str = "info"
    """Log level of the server process: debug, info, warning, error."""
    log_json: bool = False
    """Superseded by `log_format` (logs are JSON lines by default); kept for old files."""
    log_format: Literal["json", "console"] = "json"
    """`json`: one JSON object per line (the default, for log collectors); `console`: aligned
    text for a person at a terminal. Neither prints local variables; both redact secrets."""
    engine_threads: int = Field(2, ge=1, le=64)
    """Worker threads running engine calls off the event loop. The engine serialises most work
    on its lock, so more threads only add GIL contention; two let a single-event ingest's
    micro-batch form while a recommendation runs. In bench/http_load.py, 3 gave a higher p99
    at the same throughput and 4 a lower throughput too (docs/benchmarks.md)."""
    docs: bool = True
    """Serve the interactive API docs at /docs (the schema at /openapi.json is always served)."""
    report_dir: Path | None = None
    """Folder of evaluation reports (`<name>.json` with `<name>*.png` plots, as `bench/` writes
    them, e.g. `bench/results`): the console's dashboard shows the newest. None = no report."""
    graceful_shutdown_s: float = Field(10.0, ge=0.0)
    """Seconds given to in-flight requests on shutdown before connections are closed."""
    request_timeout_s: float | None = Field(30.0, gt=0.0, le=3600.0)
    """A request not answered within this many seconds gets a 503 with `Retry-After` (an
    engine call under way still finishes in its worker thread: for a write, the outcome is
    then unknown to the caller). None = no limit. Streaming a response is not timed."""
    rate_limits: RateLimits = RateLimits()
    """Per-caller token buckets per route class (ingest, recommend, admin); 429 with
    `Retry-After` once a bucket is empty. Off by default."""
    input_limits: InputLimits = InputLimits()
    """Shape limits of JSON bodies (nesting, keys, strings; stricter in `context` and
    `attributes`), checked before parsing: a body over one gets a 422 naming the field."""
    engine: EngineConfig = EngineConfig()
    """Engine configuration: storage durability, retrieval, ranking, cold start, limits."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        path = init_kwargs.get("config") or os.environ.get("ATTUNE_CONFIG")
        if not path:
            return (init_settings, env_settings)
        if not Path(path).is_file():
            raise FileNotFoundError(f"settings file {path} does not exist")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, Path(path)))

    @model_validator(mode="after")
    def _paths_exist(self) -> ServerSettings:
        if (self.db is None) == (self.store is None):
            raise ValueError("give the database (db) or a storage URL (store), one of them")
        path = storage_path(self.storage_url) if self.db is None else self.db
        if path is not None and not path.is_file():
            raise ValueError(
                f"database {path} does not exist (create it with `attune data import`)"
            )
        if self.workers > 1 and not shared_storage(self.storage_url):
            raise ValueError(
                f"workers = {self.workers} needs a shared store (redis://...): "
                f"{self.storage_url} is owned by one process; serve it with one worker"
            )
        if not self.model.is_dir():
            raise ValueError(f"model directory {self.model} does not exist")
        self.pseudonyms()  # a missing or malformed key file stops the start, naming the file
        return self

    def pseudonyms(self) -> Pseudonyms | None:
        """The key chain of `pseudonym_key_file` (None without one); `PseudonymKeyError`
        naming the file when it cannot be used."""
        return load_optional(self.pseudonym_key_file)

    @property
    def storage_url(self) -> str:
        """What to open: `store`, else the database path."""
        return self.store if self.store is not None else str(self.db)

    @property
    def keys_location(self) -> str:
        """Where the API keys live, in words (messages)."""
        if self.keys_file is not None:
            return str(self.keys_file)
        path = storage_path(self.storage_url)
        return str(path) + ".keys.json" if path is not None else "the store"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything
