"""`attune serve` and `attune keys create|list|revoke|disable-auth`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from attune.cli.errors import fail
from attune.schemas.keys import ApiScope

if TYPE_CHECKING:
    from attune.server.security import KeyRing
    from attune.server.settings import ServerSettings

keys_app = typer.Typer(
    help="Create, list and revoke API keys; turn authentication off.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")


def _settings(**given: Any) -> ServerSettings:
    from pydantic import ValidationError

    from attune.server.settings import ServerSettings
    from attune.training.config_loader import describe_errors

    try:
        return ServerSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise fail("invalid settings: " + "; ".join(describe_errors(exc, ServerSettings))) from None
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None


def _setting(name: str, metavar: str, help: str) -> Any:
    """An option of `attune serve` for the setting `name`, also read from (and shown as) its
    ATTUNE_* variable; unset, the settings' other sources (the TOML file) apply."""
    return typer.Option(
        None,
        f"--{name.replace('_', '-')}",
        metavar=metavar,
        envvar=f"ATTUNE_{name.upper()}",
        show_envvar=True,
        help=help,
    )


SERVE_DB = _setting(
    "db",
    "FILE",
    "SQLite database to serve. Required unless --store is given (here, in the variable or in "
    "the --config file).",
)
SERVE_STORE = _setting(
    "store",
    "URL",
    "Storage URL instead of --db: redis://host:6379/0, rediss://..., redis+cluster://host:port.",
)
SERVE_MODEL = _setting(
    "model",
    "DIR",
    "Model registry (see `attune models`) or checkpoint directory. Required (here, in the "
    "variable or in the --config file).",
)
SERVE_HOST = _setting("host", "ADDRESS", "Address to bind (127.0.0.1).")
SERVE_PORT = _setting("port", "PORT", "Port to bind (8000).")
SERVE_WORKERS = _setting("workers", "N", "Server processes on the port (1; more need --store).")
SERVE_CONFIG = _setting("config", "FILE", "TOML settings file.")
SERVE_KEYS_FILE = _setting(
    "keys_file", "FILE", "API keys file (default <db>.keys.json; on Redis: the store)."
)
SERVE_PSEUDONYM_KEY = _setting(
    "pseudonym_key_file",
    "FILE",
    "Key file of keyed pseudonyms of user ids (docs/privacy.md); default: raw ids.",
)
SERVE_ALLOW_MISMATCH = typer.Option(
    None,
    "--allow-mismatch",
    envvar="ATTUNE_ALLOW_MISMATCH",
    show_envvar=True,
    help="Serve a model that knows under half of the store's items (trained on other data) "
    "instead of refusing to start.",
)


def serve(
    db: Path | None = SERVE_DB,
    store: str | None = SERVE_STORE,
    model: Path | None = SERVE_MODEL,
    host: str | None = SERVE_HOST,
    port: int | None = SERVE_PORT,
    workers: int | None = SERVE_WORKERS,
    config: Path | None = SERVE_CONFIG,
    keys_file: Path | None = SERVE_KEYS_FILE,
    allow_mismatch: bool | None = SERVE_ALLOW_MISMATCH,
    pseudonym_key_file: Path | None = SERVE_PSEUDONYM_KEY,
) -> None:
    """Serve the HTTP API. On SQLite one process owns the database; on Redis (--store) any
    number of servers and --workers share it.

    Settings come from these options, then ATTUNE_* variables, then the TOML file.
    """
    from attune.server.lock import DatabaseInUseError, DatabaseLock
    from attune.server.security import open_key_ring
    from attune.stores import StorageError, storage_path, unavailable_errors

    refused: tuple[type[Exception], ...] = (DatabaseInUseError, StorageError, *unavailable_errors())
    given = {
        "db": db, "store": store, "model": model, "host": host, "port": port,
        "workers": workers, "config": config, "keys_file": keys_file,
        "allow_mismatch": allow_mismatch, "pseudonym_key_file": pseudonym_key_file,
    }  # fmt: skip
    settings = _settings(**given)
    try:
        keys = open_key_ring(settings.storage_url, settings.keys_file)
        if not settings.loopback and not keys.enabled:
            raise fail(
                f"refusing to bind {settings.host}: authentication is off in "
                f"{settings.keys_location} (no key was created, or it was turned off). Create a "
                "key with `attune keys create --db ... (or --store ...) --scope ...`, or bind "
                "127.0.0.1."
            )
        path = storage_path(settings.storage_url)
        if path is not None:
            DatabaseLock(path).check()  # a clear message before loading anything
    except refused as exc:
        raise fail(str(exc)) from None
    _run(settings, given)


def _run(settings: ServerSettings, given: dict[str, Any]) -> None:
    """Run uvicorn: the app itself with one worker; with more, each worker process builds its
    own from the same settings (passed on as ATTUNE_* variables)."""
    import os

    from attune.log import configure

    configure(settings.log_level, fmt=settings.log_format)  # before imports that log

    import uvicorn

    from attune.cli.errors import user_errors
    from attune.server.app import create_app
    from attune.server.lock import DatabaseInUseError
    from attune.server.serving import ModelMismatchError, check_model_fit, open_serving
    from attune.training.checkpoint import CheckpointError

    app: Any = "attune.server.app:create_app"
    # The engine is opened here, not in the app's start-up, so that a model that does not fit
    # the store (or cannot be read) is one line and status 2, not a server's traceback.
    with user_errors(ModelMismatchError, CheckpointError, DatabaseInUseError):
        serving = open_serving(settings) if settings.workers == 1 else None
        if serving is None:
            check_model_fit(settings)  # each worker then opens its own engine
    if serving is not None:
        app = create_app(settings, serving)
    else:
        for name, value in given.items():
            if value is not None and name != "workers":
                os.environ[f"ATTUNE_{name.upper()}"] = str(value)
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        workers=settings.workers,
        access_log=settings.access_log,
        log_config=None,  # uvicorn's own lines go through `configure`'s format and redaction
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        server_header=False,
    )


def _ring(db: str | None, keys_file: Path | None) -> KeyRing:
    from attune.cli.errors import user_errors
    from attune.server.security import open_key_ring

    if keys_file is None and db is None:
        raise fail("give --db (keys live in <db>.keys.json), --store or --keys-file")
    with user_errors():
        return open_key_ring(db or "", keys_file)


DB = typer.Option(
    None,
    "--db",
    "--store",
    metavar="DB|URL",
    help="Database whose keys file (<db>.keys.json) to use, or a storage URL (redis://...) "
    "that keeps the keys.",
)
KEYS_FILE = typer.Option(None, "--keys-file", metavar="FILE", help="Keys file to use instead.")


@keys_app.command("create")
def create(
    scope: list[ApiScope] = typer.Option(
        ..., "--scope", metavar="SCOPE", help="ingest, recommend or admin."
    ),
    name: str = typer.Option("", "--name", metavar="NAME", help="What the key is for."),
    db: str | None = DB,
    keys_file: Path | None = KEYS_FILE,
) -> None:
    """Create a key and print it once (only its hash is stored). The first key turns
    authentication on: from then on, requests without a key get 401."""
    ring = _ring(db, keys_file)
    was_on = ring.enabled
    key, record = ring.create(set(scope), name)
    if not was_on:
        typer.secho(
            "authentication is now on: requests without a key get 401 (a running server "
            "follows within a second)",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.secho(
        f"created key {record.id} with scopes {', '.join(sorted(record.scopes))}; "
        "store it now, it is not shown again:",
        err=True,
    )
    typer.echo(key)


@keys_app.command("list")
def list_(db: str | None = DB, keys_file: Path | None = KEYS_FILE) -> None:
    """List keys: id, scopes, name, creation time (never the keys)."""
    for k in _ring(db, keys_file).records():
        typer.echo(f"{k.id}\t{','.join(sorted(k.scopes))}\t{k.name}\t{k.created:%Y-%m-%d %H:%M}")


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(
        ..., metavar="KEY_ID", help="Id of the key (see `attune keys list`)."
    ),
    db: str | None = DB,
    keys_file: Path | None = KEYS_FILE,
) -> None:
    """Revoke a key; a running server stops accepting it within a second."""
    ring = _ring(db, keys_file)
    if not ring.revoke(key_id):
        raise fail(f"no key with id {key_id!r}")
    typer.echo(f"revoked {key_id}")
    if not ring.records():
        typer.secho(
            "that was the last key: authentication stays on and no request is admitted until "
            "you create a key (or turn authentication off: `attune keys disable-auth`)",
            err=True,
            fg=typer.colors.YELLOW,
        )


@keys_app.command("disable-auth")
def disable_auth(db: str | None = DB, keys_file: Path | None = KEYS_FILE) -> None:
    """Turn authentication off: the server then serves without keys, on loopback only.
    Only with no key left; creating a key turns it on again."""
    try:
        _ring(db, keys_file).disable()
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo("authentication is off: the server serves loopback only, without keys")
