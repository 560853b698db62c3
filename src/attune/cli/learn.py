"""`attune learn` (continuous fine-tuning) and `attune models init|list|promote|rollback|prune`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import fail, user_errors

if TYPE_CHECKING:
    import numpy as np

    from attune.learning.experiments import PromotionReason
    from attune.learning.finetune import FineTuneOutcome
    from attune.learning.registry import ModelRegistry, VersionInfo
    from attune.ports import Storage

models_app = typer.Typer(
    help="Model versions: create, list, promote, roll back, prune.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

REGISTRY = typer.Option(..., "--registry", metavar="DIR", help="Model registry directory.")
STORE = typer.Option(
    None,
    "--store",
    metavar="URL",
    help="The deployment's storage URL when it keeps the current version (redis://...: "
    "every server follows it); default: the registry's own registry.json.",
)


def register(app: typer.Typer) -> None:
    app.command("learn")(learn)
    app.add_typer(models_app, name="models")


@contextmanager
def _registry_errors() -> Iterator[None]:
    """`user_errors` that also reports registry errors (the registry module loads torch)."""
    from attune.learning.registry import RegistryError

    with user_errors(RegistryError):
        yield


def _registry(path: Path, store: str | None = None) -> ModelRegistry:
    """The registry at `path`; with a shared `store`, its current version is the store's."""
    from attune.learning.registry import ModelRegistry, RegistryError
    from attune.stores import open_model_pointer, shared_storage

    try:
        registry = ModelRegistry(path)
    except RegistryError as err:
        raise fail(f"{err}; create one with `attune models init`") from None
    if store is None or not shared_storage(store):
        return registry
    with user_errors(), _registry_errors():
        return ModelRegistry.shared(path, open_model_pointer(store, path))


def _db(url: str) -> Storage:
    """The storage at `url`: a database path (which must exist) or a storage URL."""
    from attune.stores import open_storage, storage_path

    path = storage_path(url)
    if path is not None and not path.is_file():
        raise fail(f"database {path} does not exist")
    return open_storage(url)


@models_app.command("init")
def init(
    registry: Path = REGISTRY,
    checkpoint: Path = typer.Option(
        ..., "--from", metavar="DIR", help="Checkpoint from `attune train`."
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        "--store",
        metavar="DB|URL",
        help="Database or storage URL the checkpoint was trained on: its events so far count "
        "as learned, so `attune learn` starts after them, and its users as the version's "
        "(`attune models list` then says which versions saw an erased user).",
    ),
) -> None:
    """Create a registry whose version 1 (current) is a copy of a trained checkpoint."""
    from attune.learning.registry import DataWindow, ModelRegistry
    from attune.learning.trained_users import checkpoint_users

    window, users = DataWindow(), None
    if db is not None:
        with user_errors(), _db(db) as store:
            counts = store.counts()
            heads = store.learning_feed().heads()  # per log partition: all of it is learned
            cursor = tuple(heads) if len(heads) > 1 else None
            window = DataWindow(last_seq=max(heads), events=counts.events, cursor=cursor)
            with user_errors(ValueError):
                users = checkpoint_users(store, checkpoint)
    with _registry_errors():
        ModelRegistry.create(registry, checkpoint, window, users=users)
    typer.echo(f"created registry {registry} with version 1 from {checkpoint}")


LIST_STORE = typer.Option(
    None,
    "--store",
    "--db",
    metavar="URL|DB",
    help="The deployment's storage: each version then says which erased users it learned "
    "from (by internal index: their ids are gone), and a shared store's current version is "
    "marked.",
)


@models_app.command("list")
def list_(registry: Path = REGISTRY, store: str | None = LIST_STORE) -> None:
    """Versions, oldest first: status, parent, data window, users it learned from (it or an
    ancestor), metrics; `*` marks the current one. With --store, `saw-erased` lists the erased
    users a version learned from (`attune models forget` replaces it)."""
    reg = _registry(registry, store)
    with _registry_errors():
        current, versions = reg.current(), reg.versions()
        erased = None if store is None else _erased(store)
        for v in versions:
            mark = "*" if v.version == current else " "
            metrics = " ".join(f"{k}={x:.4f}" for k, x in sorted(v.metrics.items()) if "@" in k)
            w = v.data_window
            users = "?" if v.users is None else str(v.users)
            seen = "" if erased is None else f"  saw-erased={_seen(reg, v.version, erased)}"
            typer.echo(
                f"{mark} v{v.version:<4} {v.status:<9} parent={v.parent or '-':<4} "
                f"seq {w.first_seq}..{w.last_seq} ({w.events} events) users={users}{seen}  "
                f"{metrics}  {v.created:%Y-%m-%d %H:%M}  {v.note}"
            )


def _erased(store: str) -> np.ndarray:
    """Internal indices of the users `store` has erased."""
    from attune.learning.trained_users import erased_users

    with user_errors(), _db(store) as deployment:
        return erased_users(deployment.users)


def _seen(reg: ModelRegistry, version: int, erased: np.ndarray) -> str:
    """The erased users a version learned from: `-` for none, `?` when it recorded no users."""
    import numpy as np

    users = reg.users(version)
    if users is None:
        return "?" if len(erased) else "-"
    seen = np.intersect1d(users, erased)
    shown = ",".join(f"#{u}" for u in seen[:5]) + (f",+{len(seen) - 5}" if len(seen) > 5 else "")
    return shown or "-"


@models_app.command("promote")
def promote(
    version: int = typer.Argument(..., metavar="VERSION", help="Version to make current."),
    registry: Path = REGISTRY,
    store: str | None = STORE,
    force: bool = typer.Option(
        False, "--force", help="Promote a version even though its check rejected it."
    ),
    require_online_win: bool = typer.Option(
        False,
        "--require-online-win",
        envvar="ATTUNE_REQUIRE_ONLINE_WIN",
        help="Promote only a version that won its online A/B test against the current one "
        "(click-through, 95%), read from --store's impression log.",
    ),
    reason: str = typer.Option(
        "manual",
        "--reason",
        metavar="manual|erasure",
        help="erasure: a version retrained without erased users' data; it bypasses "
        "--require-online-win.",
    ),
) -> None:
    """Make a version current (after checking it loads); serving processes follow within
    their poll interval. A version `attune learn` rejected needs --force. Promoting stops a
    running A/B test."""
    from attune.learning.experiments import promote_version

    if reason not in ("manual", "erasure"):
        raise fail(f"--reason must be manual or erasure, got {reason!r}")
    if require_online_win and reason != "erasure" and store is None:
        raise fail("--require-online-win reads the impression log: give --store")
    if reason == "erasure" and require_online_win and store is None:
        raise fail(
            "--reason erasure skips the online test only for a version proven clean: give --store"
        )
    reg = _registry(registry, store)
    with _registry_errors():
        info = reg.info(version)
        if info.status == "rejected":
            why = _rejection(info)
            if not force:
                raise fail(f"version {version} was rejected: {why}; promote it with --force")
            typer.secho(
                f"warning: promoting rejected version {version} ({why})",
                err=True,
                fg=typer.colors.YELLOW,
            )
        if require_online_win and reason == "erasure":  # the bypass is for clean versions
            _refuse_unless_clean(reg, version, str(store))
        if require_online_win and reason != "erasure":
            with user_errors(), _db(str(store)) as deployment:
                promote_version(reg, version, require_online_win=True, store=deployment)
        else:
            cause: PromotionReason = "erasure" if reason == "erasure" else "manual"
            promote_version(reg, version, reason=cause, require_online_win=require_online_win)
    typer.echo(f"version {version} is current")


def _refuse_unless_clean(reg: ModelRegistry, version: int, store: str) -> None:
    """Refuse an erasure promotion of a version that learned from an erased user (or
    recorded no users: it may have)."""
    from attune.learning.trained_users import erased_users, saw_any

    with user_errors(), _db(store) as deployment:
        erased = erased_users(deployment.users)
    if saw_any(reg.users(version), erased):
        raise fail(
            f"version {version} learned from an erased user (or recorded no users): "
            "--reason erasure cannot skip the online test for it; see attune models forget"
        )


def _rejection(info: VersionInfo) -> str:
    """Why a version was rejected: its check against its parent, in the words of its round
    (the NDCG@k of both and the tolerance), else its metrics."""
    if info.note:
        return info.note
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(info.metrics.items()) if "@" in k)
    return metrics or "no reason recorded"


@models_app.command("rollback")
def rollback(registry: Path = REGISTRY, store: str | None = STORE) -> None:
    """Make the previously current version current again."""
    with _registry_errors():
        version = _registry(registry, store).rollback()
    typer.echo(f"rolled back: version {version} is current")


KEEP_HELP = (
    "Keep the current version, the newest N versions and the last N of the promotion "
    "history (rollback reaches N-1 steps back); delete the others."
)


@models_app.command("prune")
def prune(
    registry: Path = REGISTRY,
    keep: int = typer.Option(..., "--keep", metavar="N", min=1, help=KEEP_HELP),
    store: str | None = STORE,
) -> None:
    """Delete old model versions."""
    with _registry_errors():
        deleted = _registry(registry, store).prune(keep)
    typer.echo(f"deleted {_versions(deleted) or 'nothing'}")


def _versions(numbers: list[int]) -> str:
    return ", ".join(f"v{v}" for v in numbers)


KEEP_VERSIONS = typer.Option(
    None,
    "--keep-versions",
    metavar="N",
    min=1,
    help=f"After each round: {KEEP_HELP} Default: keep all.",
)
KEEP_REJECTED = typer.Option(
    3,  # the registry's KEEP_REJECTED, written out because its module loads torch
    "--keep-rejected",
    metavar="N",
    min=1,
    help="After each round: keep the newest N rejected versions, delete older ones (never one "
    "that is or was current).",
)
EVENT_LOG = typer.Option(
    ...,
    "--db",
    "--store",
    metavar="DB|URL",
    help="Database or storage URL (redis://...) whose event log to learn from; on a shared "
    "store the version it publishes becomes current for every server.",
)

CLAIM_IDLE = typer.Option(
    60.0,
    "--claim-idle",
    metavar="SECONDS",
    min=0.0,
    help="On Redis: take over events another learner took and left unacknowledged this long "
    "(it died); the learner acknowledges events once a version trained on them is current.",
)


# The defaults of --min-events, --epochs, --lr and --tolerance are `FineTuneConfig`'s, written
# out because its module loads torch (tests/cli checks they agree).
def learn(
    db: str = EVENT_LOG,
    registry: Path = REGISTRY,
    watch: bool = typer.Option(
        False, "--watch", help="Keep going: a round whenever enough new events are logged."
    ),
    interval: float = typer.Option(
        30.0, "--interval", metavar="SECONDS", min=0.1, help="Seconds between checks with --watch."
    ),
    min_events: int = typer.Option(
        500, "--min-events", metavar="EVENTS", min=1, help="New events needed for a round."
    ),
    epochs: int = typer.Option(
        1, "--epochs", metavar="N", min=1, help="Passes over the new events."
    ),
    lr: float = typer.Option(5e-4, "--lr", metavar="RATE", min=0.0, help="Learning rate."),
    tolerance: float = typer.Option(
        0.0,
        "--tolerance",
        metavar="NDCG",
        min=0.0,
        help="Publish when NDCG@10 is at most this much below the current version's.",
    ),
    no_promote: bool = typer.Option(
        False,
        "--no-promote",
        help="Store a better candidate as published but do not make it current.",
    ),
    keep_versions: int | None = KEEP_VERSIONS,
    keep_rejected: int = KEEP_REJECTED,
    claim_idle: float = CLAIM_IDLE,
) -> None:
    """Fine-tune the current version on the events logged since its data window, check it on
    the newest events, and publish it only if it is not worse. A server started on the
    registry swaps to a published version by itself. After a candidate that was not made
    current, the next round waits for --min-events events newer than those it saw."""
    from attune.learning.finetune import FineTuneConfig, fine_tune
    from attune.learning.progress import consumer_name
    from attune.ports import LEARN_GROUP
    from attune.training.config_loader import ConfigError, validate

    options = {"min_events": min_events, "epochs": epochs, "lr": lr, "tolerance": tolerance}
    with user_errors(ConfigError):
        config = validate(FineTuneConfig, options, "learn")
    reg = _registry(registry, db)
    while True:
        with _registry_errors(), _db(db) as store:
            feed = store.learning_feed(LEARN_GROUP, consumer_name(), claim_idle)
            outcome = fine_tune(store, reg, config, promote=not no_promote, feed=feed)
            deleted = reg.prune(keep_versions) if keep_versions is not None else []
            deleted = sorted([*deleted, *reg.prune_rejected(keep_rejected)])
        typer.echo(_describe(outcome))
        if deleted:
            typer.echo(f"pruned {_versions(deleted)}")
        if not watch:
            return
        time.sleep(interval)


def _describe(o: FineTuneOutcome) -> str:
    if o.status == "skipped":
        return f"skipped: {o.reason}"
    return (
        f"v{o.version} {o.status} (parent v{o.parent}): {o.reason}; trained on {o.trained_events} "
        f"new events, {o.seconds:.1f} s ({o.events_per_s:,.0f} events/s)"
    )
