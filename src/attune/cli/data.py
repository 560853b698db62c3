"""`attune data import|inspect|fetch` (and `trim`, in `retention`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from attune.cli import item_import
from attune.cli.errors import user_errors
from attune.cli.users import PSEUDONYM_KEY, pseudonyms_of

if TYPE_CHECKING:
    from attune.data.dataset import Dataset
    from attune.data.importers import ColumnMapping

# The data package loads numpy, so the options spell out its choices; tests/cli checks them
# against `attune.data.importers.OnError` and `attune.data.importers.fetch.KNOWN_DATASETS`.
OnErrorChoice = Literal["fail", "skip"]
"""The values of `OnError`."""
DATASETS = ("movielens-100k", "movielens-1m")
"""The names `attune data fetch` knows."""
MAX_FUTURE_SECONDS = 300.0
"""The engine's default `max_future_seconds` (tests/cli checks they agree)."""

data_app = typer.Typer(
    help="Import, inspect and fetch interaction data.", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    from attune.cli.retention import trim

    data_app.command("trim")(trim)
    app.add_typer(data_app, name="data")


def _mapping(pairs: list[str]) -> ColumnMapping | None:
    from attune.data.importers import ColumnMapping

    if not pairs:
        return None
    fields: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in ColumnMapping.model_fields:
            known = ", ".join(ColumnMapping.model_fields)
            raise typer.BadParameter(
                f"{pair!r}: want FIELD=COLUMN with FIELD in {known}", param_hint="--map"
            )
        fields[key] = value or None
    return ColumnMapping.model_validate(fields)


def _load(
    src: Path, on_error: OnErrorChoice, mapping: list[str], max_future_seconds: float | None = None
) -> Dataset:
    from attune.data.importers import OnError, load_with_report

    dataset, report = load_with_report(
        src,
        on_error=OnError(on_error),
        mapping=_mapping(mapping),
        max_future_seconds=max_future_seconds,
    )
    for err in report.rejected:
        typer.secho(f"skipped {err}", err=True, fg=typer.colors.YELLOW)
    if report.rejected:
        typer.secho(
            f"{len(report.rejected)} of {report.rows_read} rows skipped",
            err=True,
            fg=typer.colors.YELLOW,
        )
    return dataset


ON_ERROR = typer.Option(
    "fail",
    "--on-error",
    metavar="fail|skip",
    help="fail: stop at the first bad row and import nothing; "
    "skip: import the good rows and list the bad ones.",
)
MAP = typer.Option(
    [],
    "--map",
    metavar="FIELD=COLUMN",
    help="Column mapping for CSV/TSV/Parquet/JSONL, e.g. "
    "--map user=uid --map item=sku --map timestamp=ts --map event_type=kind "
    "--map event_id=eid.",
)


@data_app.command("import")
def import_(
    src: Path | None = typer.Argument(
        None, metavar="SRC", help="Dataset folder or file of events (optional with --items)."
    ),
    db: str = typer.Option(
        ...,
        "--db",
        "--store",
        metavar="DB|URL",
        help="SQLite database to import into (created), or a storage URL (redis://...).",
    ),
    on_error: OnErrorChoice = ON_ERROR,
    map_: list[str] = MAP,
    max_future_seconds: float = typer.Option(
        MAX_FUTURE_SECONDS,
        "--max-future-seconds",
        metavar="SECONDS",
        min=0.0,
        envvar="ATTUNE_ENGINE__MAX_FUTURE_SECONDS",
        help="Reject rows stamped further than this in the future, as the server does "
        "(its engine.max_future_seconds).",
    ),
    items: Path | None = item_import.ITEMS,
    item_id: str = item_import.ITEM_ID,
    multi: list[str] = item_import.MULTI,
    separator: str = item_import.SEPARATOR,
    numeric: list[str] = item_import.NUMERIC,
    pseudonym_key_file: Path | None = PSEUDONYM_KEY,
) -> None:
    """Import events, an item catalogue (--items), or both, into a store.

    Importing events is idempotent: each event keeps the file's event id (column `event_id`,
    or the one given with --map event_id=COLUMN), or gets one from its content; events whose
    id their user already has are skipped, so importing the same file again adds nothing.
    Items are upserted: a row replaces that item's attributes and availability, as
    PUT /v1/items does. Both files are read and checked before anything is written.
    """
    from attune.data.event_ids import with_event_ids
    from attune.server.lock import DatabaseInUseError

    if src is None and items is None:
        raise typer.BadParameter("give a dataset SRC, --items FILE, or both")
    chain = pseudonyms_of(pseudonym_key_file)
    with user_errors(DatabaseInUseError):
        dataset = None
        if src is not None:
            dataset = _load(src, on_error, map_, max_future_seconds)
            if chain is not None:  # before the content event ids: they hash the user id too
                dataset = chain.dataset(dataset)
            dataset = with_event_ids(dataset)
        item_file = None
        if items is not None:
            item_file = item_import.read_item_file(
                items, on_error, item_id, multi, separator, numeric
            )
        _write(db, dataset, item_file)


def _write(db: str, dataset: Dataset | None, item_file: item_import.ItemFile | None) -> None:
    """Import the events, then upsert the items, and say what changed. Items go into a
    database no server holds (its server keeps the item ids in memory): a served one takes
    them through `PUT /v1/items`; servers sharing Redis learn of them from its change feed."""
    from attune.stores import open_storage, redacted, storage_path

    path = storage_path(db) if item_file is not None else None
    with _unserved(path), open_storage(db) as store:
        n = 0 if dataset is None else store.import_dataset(dataset)
        upserted = 0
        if item_file is not None:
            upserted = item_import.upsert_items(store.catalogue, item_file.updates)
        counts = store.counts()
    now = f"(now {counts.users:,} users, {counts.items:,} items, {counts.events:,} events)"
    if dataset is not None:
        typer.echo(
            f"imported {n:,} interactions into {redacted(db)}" + ("" if item_file else f" {now}")
        )
        skipped = len(dataset.interactions) - n
        if skipped:
            typer.echo(f"skipped {skipped:,} interactions already imported")
    if item_file is not None:
        typer.echo(
            f"upserted {upserted:,} items from {item_file.path} ({item_file.rows_read:,} rows "
            f"read, {item_file.rows_skipped:,} skipped) into {redacted(db)} {now}"
        )


@contextmanager
def _unserved(path: Path | None) -> Iterator[None]:
    """Hold the database's serve lock (None: nothing to hold), naming the API if a server
    already holds it."""
    from attune.server.lock import DatabaseInUseError, DatabaseLock

    if path is None:
        yield
        return
    lock = DatabaseLock(path)
    try:
        lock.acquire()
    except DatabaseInUseError as exc:
        raise DatabaseInUseError(
            f"{exc} Send items to the running server: PUT /v1/items."
        ) from None
    try:
        yield
    finally:
        lock.release()


@data_app.command("inspect")
def inspect(
    src: Path | None = typer.Argument(None, metavar="SRC", help="Dataset folder or file."),
    db: str | None = typer.Option(
        None,
        "--db",
        "--store",
        metavar="DB|URL",
        help="Inspect an Attune database (or storage URL) instead.",
    ),
    on_error: OnErrorChoice = ON_ERROR,
    map_: list[str] = MAP,
) -> None:
    """Print users, items, interactions, density, lengths, time span, event types, fields."""
    from attune.data.stats import describe
    from attune.stores import open_storage, storage_path

    if (src is None) == (db is None):
        raise typer.BadParameter("give a dataset SRC or --db PATH (one of them)")
    with user_errors():
        if db is not None:
            path = storage_path(db)
            if path is not None and not path.exists():
                raise FileNotFoundError(f"{db}: no such database")
            with open_storage(db) as store:
                dataset = store.to_dataset()
        else:
            assert src is not None
            dataset = _load(src, on_error, map_)
    rows = describe(dataset).rows()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        typer.echo(f"{label:<{width}}  {value}")


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., metavar="NAME", help=f"One of: {', '.join(DATASETS)}."),
    dest: Path = typer.Option(Path("data"), "--dest", metavar="DIR", help="Folder to unpack into."),
    url: str | None = typer.Option(
        None, "--url", metavar="URL", help="Download from this mirror instead."
    ),
) -> None:
    """Download a public dataset (needs network access)."""
    from attune.data.importers.fetch import fetch_dataset

    with user_errors():
        folder = fetch_dataset(name, dest, url=url)
    typer.echo(f"{name} is in {folder}")
