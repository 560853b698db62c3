"""The item half of `attune data import`: `--items FILE` and its column options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import typer

if TYPE_CHECKING:
    from attune.data.events import ItemUpdate
    from attune.ports import ItemCatalogue

ITEMS = typer.Option(
    None,
    "--items",
    metavar="FILE",
    help="Item catalogue (CSV, TSV, JSONL or Parquet; one row per item) to upsert, as "
    "PUT /v1/items does: an id column (--item-id), attribute columns named as they are "
    "(title, text, description and name are free text; the others categories), and "
    "optionally available_from, available_until, created (seconds or ISO 8601) and blocked.",
)
ITEM_ID = typer.Option(
    "item_id", "--item-id", metavar="COLUMN", help="Item file: the column with the item id."
)
MULTI = typer.Option(
    [],
    "--multi",
    metavar="COLUMN",
    help="Item file: a column holding several values (tags, genres), split on --separator "
    "(repeat for each such column; JSONL and Parquet lists need no option).",
)
SEPARATOR = typer.Option(
    "|", "--separator", metavar="SEP", help="Item file: the separator of --multi cells."
)
NUMERIC = typer.Option(
    [],
    "--numeric",
    metavar="COLUMN",
    help="Item file: a column holding numbers (price, year), stored as numbers "
    "(repeat for each such column).",
)


class ItemFile(NamedTuple):
    """An item file read and checked: its updates and what reading it found."""

    path: Path
    updates: list[ItemUpdate]
    rows_read: int
    rows_skipped: int


def read_item_file(
    path: Path, on_error: str, item_id: str, multi: list[str], separator: str, numeric: list[str]
) -> ItemFile:
    """The file's item updates, every one checked before anything is written; bad rows are
    listed on stderr under `skip` (under `fail` the first one raises, naming file and line)."""
    from attune.data.importers import ItemColumns, OnError, read_items

    if not separator:
        raise typer.BadParameter("must not be empty", param_hint="--separator")
    columns = ItemColumns(
        item=item_id, multi=tuple(multi), separator=separator, numeric=tuple(numeric)
    )
    updates, report = read_items(path, columns, OnError(on_error))
    for err in report.rejected:
        typer.secho(f"skipped {err}", err=True, fg=typer.colors.YELLOW)
    if report.rejected:
        typer.secho(
            f"{len(report.rejected)} of {report.rows_read} item rows skipped",
            err=True,
            fg=typer.colors.YELLOW,
        )
    return ItemFile(path, updates, report.rows_read, len(report.rejected))


def upsert_items(catalogue: ItemCatalogue, updates: Sequence[ItemUpdate]) -> int:
    """Upsert in batches of the API's bulk size, each its own transaction: batches written
    before a failure stay written, and stderr says how many there were."""
    from attune.schemas.request import MAX_BATCH

    done = 0
    try:
        for start in range(0, len(updates), MAX_BATCH):
            batch = updates[start : start + MAX_BATCH]
            catalogue.upsert_items(batch)
            done += len(batch)
    finally:
        if done < len(updates):
            typer.secho(
                f"{done:,} of {len(updates):,} items were upserted before the error",
                err=True,
                fg=typer.colors.YELLOW,
            )
    return done
