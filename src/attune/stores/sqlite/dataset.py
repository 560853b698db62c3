"""Bulk import of a `Dataset` into the database, and the database back as a `Dataset`."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

import numpy as np
from tqdm import tqdm

from attune.data.dataset import AttributeTable, Dataset
from attune.data.events import AttributeValue
from attune.log import get_logger
from attune.stores.assemble import assemble_dataset, attribute_table, tokens_to_attributes
from attune.stores.sqlite.catalogue import SQLiteCatalogue, SQLiteProfiles
from attune.stores.sqlite.database import Database
from attune.stores.sqlite.events import SQLiteEventLog

_log = get_logger(__name__)

_CHUNK = 50_000


def import_dataset(
    d: Database, events: SQLiteEventLog, dataset: Dataset, *, progress: bool = True
) -> int:
    """Bulk-load a dataset (ids, attributes, titles, events) in one transaction; returns how
    many events were added (with event ids, one its user already has is skipped)."""
    inter = dataset.interactions
    with d.transaction() as db:
        events.ensure_event_types(dataset.event_types)
        if d.get_meta("name") is None:
            d.set_meta("name", dataset.name)
            d.set_meta("has_timestamps", json.dumps(dataset.has_timestamps))
            d.set_meta("item_fields", json.dumps(dataset.item_attributes.fields))
            d.set_meta("user_fields", json.dumps(dataset.user_attributes.fields))
        d.grow("users", dataset.users.ids)
        d.grow("items", dataset.items.ids)
        user_map = d.users.encode(dataset.users.ids, grow=False)
        item_map = d.items.encode(dataset.items.ids, grow=False)
        _write_attributes(d, "items", dataset.item_attributes, item_map, dataset.item_titles)
        _write_attributes(d, "users", dataset.user_attributes, user_map, {})
        # after every position given, erased ones too
        added = _insert_events(db, dataset, user_map, item_map, progress, events.next_seq())
    _log.info(
        "imported dataset",
        name=dataset.name,
        events=added,
        skipped=len(inter) - added,
        users=len(d.users),
        items=len(d.items),
    )
    return added


def _insert_events(
    db: sqlite3.Connection,
    dataset: Dataset,
    user_map: np.ndarray,
    item_map: np.ndarray,
    progress: bool,
    first: int,
) -> int:
    """Insert the interactions in chunks at positions from `first` on; with event ids, those
    a user already has are skipped (the unique index on user and event id). Returns how many
    went in."""
    inter = dataset.interactions
    values = inter.values.astype(np.float64)
    columns = [
        list(range(first, first + len(inter))),
        user_map[inter.users].tolist(),
        item_map[inter.items].tolist(),
        inter.event_types.tolist(),
        inter.timestamps.tolist(),
        [None if math.isnan(v) else v for v in values.tolist()],
    ]
    sql = (
        "INSERT INTO events (seq, user_idx, item_idx, event_type, ts, value) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    if inter.event_ids is not None:
        columns.append(inter.event_ids.tolist())
        sql = (
            "INSERT OR IGNORE INTO events (seq, user_idx, item_idx, event_type, ts, value, "
            "event_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
    rows = zip(*columns, strict=True)
    bar = tqdm(total=len(inter), desc="import", unit="ev", disable=not progress, mininterval=1.0)
    added = 0
    while chunk := [r for _, r in zip(range(_CHUNK), rows, strict=False)]:
        added += db.executemany(sql, chunk).rowcount
        bar.update(len(chunk))
    bar.close()
    return added


def _write_attributes(
    d: Database, table: str, attrs: AttributeTable, index_map: np.ndarray, titles: dict[int, str]
) -> None:
    token_ids = attrs.tokens.ids
    rows: list[tuple[Any, ...]] = []
    for r in range(attrs.n_rows):
        tokens = [token_ids[t] for t in attrs.row(r)]
        value: dict[str, AttributeValue] = tokens_to_attributes(tokens)
        if r in titles:
            value["title"] = titles[r]
        rows.append((json.dumps(value), titles.get(r), int(index_map[r])))
    for r, title in titles.items():
        if r >= attrs.n_rows:
            rows.append((json.dumps({"title": title}), title, int(index_map[r])))
    if table == "items":
        d.db.executemany("UPDATE items SET attributes=?, title=? WHERE idx=?", rows)
    else:
        d.db.executemany("UPDATE users SET attributes=? WHERE idx=?", [(a, i) for a, _, i in rows])


def to_dataset(d: Database, events: SQLiteEventLog, *, with_events: bool = True) -> Dataset:
    """Everything in the database as an in-memory `Dataset` (for training and inspection).

    Without events the interactions are left empty: the catalogue, user attributes and
    vocabularies alone, for a reader that streams the events itself (the engine).
    """
    columns = events.event_columns() if with_events else np.empty((0, 6))
    catalogue, profiles = SQLiteCatalogue(d), SQLiteProfiles(d)
    return assemble_dataset(
        d.get_meta("name", d.path.stem) or d.path.stem,
        columns,
        d.users,
        d.items,
        events.event_types(),
        attribute_table(len(d.items), catalogue.all_item_attributes(), _fields(d, "item_fields")),
        attribute_table(len(d.users), profiles.all_user_attributes(), _fields(d, "user_fields")),
        bool(json.loads(d.get_meta("has_timestamps", "true") or "true")),
    )


def _fields(d: Database, key: str) -> tuple[str, ...]:
    return tuple(json.loads(d.get_meta(key, "[]") or "[]"))
