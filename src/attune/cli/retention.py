"""`attune data trim`: drop the oldest events of a Redis log behind everything that needs them
(docs/scaling.md, "Retention")."""

from __future__ import annotations

import re
import time

import typer

from attune.cli.errors import fail, user_errors

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
LEARN_GROUP = "attune-learn"
"""`attune.ports.LEARN_GROUP`, written out so that `--help` loads no store (tests/cli checks)."""


def parse_age(text: str) -> float:
    """Seconds in an age such as `30d`, `12h`, `90m`, `3600s` or `2w`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None:
        raise typer.BadParameter(
            f"{text!r}: want a number and a unit (s, m, h, d, w), e.g. 30d", param_hint="--keep"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def trim(
    store: str = typer.Option(
        ..., "--store", metavar="URL", help="The deployment's Redis storage URL (redis://...)."
    ),
    keep: str = typer.Option(
        ...,
        "--keep",
        metavar="AGE",
        help="Keep events younger than this (event time): 30d, 12h, 90m, 2w.",
    ),
    group: str = typer.Option(
        LEARN_GROUP,
        "--group",
        metavar="NAME",
        help="The learning job's consumer group: nothing it has not acknowledged is trimmed.",
    ),
) -> None:
    """Trim each partition of the event log to what must stay: the events younger than the
    age kept, those the learning group has not acknowledged or not delivered, and those after
    the user states' snapshot position. Redis only: the SQLite log is the record states are
    rebuilt from, so it is never trimmed."""
    from attune.stores import open_storage, storage_path

    age = parse_age(keep)
    path = storage_path(store)
    if path is not None and not path.is_file():
        raise fail(f"database {path} does not exist")
    with user_errors(), open_storage(store) as storage:
        results = storage.trim_log(time.time() - age, group)
    for r in results:
        kept = "nothing left" if r.kept_from is None else f"kept from seq {r.kept_from}"
        typer.echo(
            f"partition {r.partition}: trimmed {r.trimmed} events, {kept} (limit: {r.limit})"
        )
    typer.echo(f"trimmed {sum(r.trimmed for r in results)} events in all")
