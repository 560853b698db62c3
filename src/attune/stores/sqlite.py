"""The embedded store: one SQLite file (WAL) with the event log, catalogue and user attributes.

SQLite is the default because it needs no server, survives a killed process once a commit
returns, and handles the single-machine scale Attune targets by default.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from attune.data.dataset import AttributeTable, Dataset, Interactions
from attune.data.events import (
    AttributeValue,
    EventTypes,
    Interaction,
    ItemUpdate,
    UserUpdate,
    attribute_tokens,
)
from attune.data.vocab import Vocabulary
from attune.log import get_logger
from attune.stores.base import LoggedEvent
from attune.stores.migrations import MIGRATIONS

_log = get_logger(__name__)

_CHUNK = 50_000
_CACHE_KIB = 65_536
"""Page cache of the connection (64 MiB; SQLite's default is 2 MiB). Events of random users
touch random pages of the per-user index; with the small default each batch re-reads them."""
_FALLBACK_CHECKPOINT_PAGES = 25_000
"""With background checkpoints on, the writer still checkpoints itself past this many WAL
pages (about 100 MB), should the background thread fall behind."""


class Durability(StrEnum):
    """How hard a commit works to reach the disk (SQLite `synchronous` in WAL mode)."""

    FULL = "full"
    """fsync on every commit: survives a killed process and a power cut."""
    NORMAL = "normal"
    """fsync at checkpoints: survives a killed process; a power cut may lose the last commits."""


class StoreError(RuntimeError):
    """The database cannot be opened or is of a newer schema than this version knows."""


@dataclass(frozen=True)
class StoreCounts:
    users: int
    items: int
    events: int


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def tokens_to_attributes(tokens: Iterable[str]) -> dict[str, AttributeValue]:
    """Inverse of `attribute_tokens` for categorical tokens: `field=value` -> {field: [values]}."""
    out: dict[str, list[str]] = {}
    for token in tokens:
        field, _, value = token.partition("=")
        out.setdefault(field, []).append(value)
    return {k: (v[0] if len(v) == 1 else v) for k, v in out.items()}


class SQLiteStore:
    """Event log, catalogue and user attributes in one SQLite database."""

    def __init__(self, path: str | Path, *, durability: Durability = Durability.FULL) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite database ({exc})") from None
        self._db.execute(f"PRAGMA synchronous={durability.value.upper()}")
        self._db.execute("PRAGMA foreign_keys=ON")
        # Erased rows are overwritten with zeros, not left readable in free pages.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self._checkpointer: _Checkpointer | None = None
        self.users, self.items = Vocabulary(), Vocabulary()
        self._migrate()
        self._load_vocabularies()
        self._event_types = self.event_types()
        self._event_types_stored = self.get_meta("event_types") is not None

    # -- lifecycle -------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this Attune "
                f"({len(MIGRATIONS)}); upgrade Attune to open it"
            )
        for step in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={step + 1}")
            _log.info("migrated store", path=str(self.path), version=step + 1)

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection, for the other tables of this package (`impressions`); callers
        serialise writes with the store's own, as the engine does under its lock."""
        return self._db

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def checkpoint_in_background(self, interval_s: float = 1.0) -> None:
        """Move the write-ahead log into the database from a thread of its own, instead of in
        the commit that happens to cross SQLite's threshold (1,000 pages): that commit would
        otherwise carry the copy, about half of the cost of logging a batch of events.

        A passive checkpoint on a second connection never blocks the writer; readers and the
        writer go on meanwhile. For long-running writers (the engine); `close` stops it.
        """
        if self._checkpointer is not None:
            return
        self._db.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        self._checkpointer = _Checkpointer(self.path, interval_s)
        self._checkpointer.start()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        sizes = (len(self.users), len(self.items))
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            self.users.truncate(sizes[0])
            self.items.truncate(sizes[1])
            raise
        self._db.execute("COMMIT")

    # -- metadata and vocabularies ---------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def event_types(self) -> EventTypes:
        raw = self.get_meta("event_types")
        return EventTypes.model_validate_json(raw) if raw else EventTypes()

    def _ensure_event_types(self, event_types: EventTypes) -> None:
        if event_types is self._event_types and self._event_types_stored:
            return  # the hot path: the engine passes back the store's own object
        current = self.get_meta("event_types")
        self._event_types_stored = True
        if current is None:
            self._event_types = event_types
            self._set_meta("event_types", event_types.model_dump_json())
            self._db.executemany(
                "INSERT INTO event_types VALUES (?, ?)", list(enumerate(event_types.names))
            )
        elif EventTypes.model_validate_json(current) != event_types:
            raise StoreError(f"{self.path}: configured event types differ from the stored ones")
        else:  # equal: the next call with this object (the engine's) takes the hot path
            self._event_types = event_types

    def vocabulary(self, table: str) -> Vocabulary:
        """A copy of the users' or items' vocabulary as stored."""
        assert table in ("users", "items")
        return Vocabulary((self.users if table == "users" else self.items).ids)

    def _load_vocabularies(self) -> None:
        # This process owns the database, so the vocabularies are read once and then kept in
        # step with every write; a failed transaction truncates them back (see transaction()).
        self.users = Vocabulary(
            r[0] for r in self._db.execute("SELECT ext_id FROM users ORDER BY idx")
        )
        self.items = Vocabulary(
            r[0] for r in self._db.execute("SELECT ext_id FROM items ORDER BY idx")
        )

    def _grow(self, table: str, external_ids: Iterable[str]) -> None:
        """Append ids unknown to the store, keeping every existing index."""
        vocab = self.users if table == "users" else self.items
        start = len(vocab)
        vocab.extend(external_ids)
        new = [(i, vocab.external(i)) for i in range(start, len(vocab))]
        if new:
            self._db.executemany(f"INSERT INTO {table} (idx, ext_id) VALUES (?, ?)", new)

    # -- writes ----------------------------------------------------------------------------

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        """Append validated events in one transaction, growing the vocabularies.

        The events are durable once this returns (per the store's durability setting).
        """
        et = event_types or self._event_types
        codes = [et.code(e.event_type) for e in events]
        with self.transaction():
            self._ensure_event_types(et)
            self._grow("users", (e.user_id for e in events))
            self._grow("items", (e.item_id for e in events))
            # The positions SQLite would give the rows one by one (MAX(seq) + 1, ...), set
            # explicitly so that the whole batch is one executemany: a third of the per-row
            # insert cost. This process owns the database (BEGIN IMMEDIATE holds the write
            # lock), so nothing can take a position in between.
            first = int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
            user_index, item_index = self.users.index, self.items.index
            out = [
                LoggedEvent(
                    first + n,
                    user_index(e.user_id),
                    item_index(e.item_id),
                    code,
                    e.timestamp.timestamp(),
                    math.nan if e.value is None else e.value,
                    e.recommendation_id,
                )
                for n, (e, code) in enumerate(zip(events, codes, strict=True), start=1)
            ]
            self._db.executemany(
                "INSERT INTO events (seq, user_idx, item_idx, event_type, ts, value, "
                "recommendation_id, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        logged.seq,
                        logged.user,
                        logged.item,
                        logged.event_type,
                        logged.timestamp,
                        e.value,
                        e.recommendation_id,
                        json.dumps(e.context) if e.context else None,
                    )
                    for logged, e in zip(out, events, strict=True)
                ],
            )
        return out

    def read_events(
        self, after: int = 0, *, user: int | None = None, chunk: int = 10_000
    ) -> Iterator[LoggedEvent]:
        """Logged events with seq > `after` in log order (optionally one user's only)."""
        last = after
        while True:
            where, params = "seq > ?", [last]
            if user is not None:
                where, params = "user_idx = ? AND seq > ?", [user, last]
            rows = self._db.execute(
                f"SELECT seq, user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN'), "
                f"recommendation_id FROM events WHERE {where} ORDER BY seq LIMIT ?",
                (*params, chunk),
            ).fetchall()
            for row in rows:
                yield LoggedEvent(
                    int(row[0]),
                    int(row[1]),
                    int(row[2]),
                    int(row[3]),
                    float(row[4]),
                    float(row[5]),
                    row[6],
                )
            if len(rows) < chunk:
                return
            last = int(rows[-1][0])

    def event_columns(self) -> np.ndarray:
        """The whole log as one float64 array [N, 6]: seq, user, item, event type, time, value
        (NaN when none), in log order; one query, no per-event Python objects (training reads)."""
        rows = self._db.execute(
            "SELECT seq, user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN') "
            "FROM events ORDER BY seq"
        ).fetchall()
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Delete a user's events, impressions and attributes; the id becomes a tombstone.

        The internal index stays allocated (indices are never reused), but nothing links it
        to the person any more.
        """
        idx = self.users.get(user_id)
        if idx < 0:
            return {"events": 0, "attributes": 0, "impressions": 0}
        tombstone = f"\x00erased:{idx}"
        with self.transaction():
            n_events = self._db.execute("DELETE FROM events WHERE user_idx=?", (idx,)).rowcount
            n_shown = self._db.execute("DELETE FROM impressions WHERE user_idx=?", (idx,)).rowcount
            n_attrs = self._db.execute(
                "UPDATE users SET attributes=NULL, ext_id=? WHERE idx=? AND attributes IS NOT NULL",
                (tombstone, idx),
            ).rowcount
            self._db.execute("UPDATE users SET ext_id=? WHERE idx=?", (tombstone, idx))
        self.users.rename(idx, tombstone)
        # Copy the erasure into the main file and empty the WAL, where old pages still held
        # the deleted rows.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"events": int(n_events), "attributes": int(n_attrs), "impressions": int(n_shown)}

    def upsert_items(self, updates: list[ItemUpdate]) -> None:
        with self.transaction():
            self._grow("items", (u.item_id for u in updates))
            self._db.executemany(
                "UPDATE items SET attributes=?, title=COALESCE(?, title), available_from=?, "
                "available_until=?, created=?, blocked=? WHERE ext_id=?",
                [
                    (
                        json.dumps(u.attributes),
                        _title(u.attributes),
                        _ts(u.available_from),
                        _ts(u.available_until),
                        _ts(u.created),
                        int(u.blocked),
                        u.item_id,
                    )
                    for u in updates
                ],
            )

    def upsert_users(self, updates: list[UserUpdate]) -> None:
        with self.transaction():
            self._grow("users", (u.user_id for u in updates))
            self._db.executemany(
                "UPDATE users SET attributes=? WHERE ext_id=?",
                [(json.dumps(u.attributes), u.user_id) for u in updates],
            )

    def import_dataset(self, dataset: Dataset, *, progress: bool = True) -> int:
        """Bulk-load a dataset (ids, attributes, titles, events) in one transaction."""
        inter = dataset.interactions
        with self.transaction():
            self._ensure_event_types(dataset.event_types)
            if self.get_meta("name") is None:
                self._set_meta("name", dataset.name)
                self._set_meta("has_timestamps", json.dumps(dataset.has_timestamps))
                self._set_meta("item_fields", json.dumps(dataset.item_attributes.fields))
                self._set_meta("user_fields", json.dumps(dataset.user_attributes.fields))
            self._grow("users", dataset.users.ids)
            self._grow("items", dataset.items.ids)
            user_map = self.users.encode(dataset.users.ids, grow=False)
            item_map = self.items.encode(dataset.items.ids, grow=False)
            self._write_attributes("items", dataset.item_attributes, item_map, dataset.item_titles)
            self._write_attributes("users", dataset.user_attributes, user_map, {})
            values = inter.values.astype(np.float64)
            rows = zip(
                user_map[inter.users].tolist(),
                item_map[inter.items].tolist(),
                inter.event_types.tolist(),
                inter.timestamps.tolist(),
                [None if math.isnan(v) else v for v in values.tolist()],
                strict=True,
            )
            bar = tqdm(
                total=len(inter), desc="import", unit="ev", disable=not progress, mininterval=1.0
            )
            while chunk := [r for _, r in zip(range(_CHUNK), rows, strict=False)]:
                self._db.executemany(
                    "INSERT INTO events (user_idx, item_idx, event_type, ts, value) "
                    "VALUES (?, ?, ?, ?, ?)",
                    chunk,
                )
                bar.update(len(chunk))
            bar.close()
        _log.info(
            "imported dataset",
            name=dataset.name,
            events=len(inter),
            users=len(self.users),
            items=len(self.items),
        )
        return len(inter)

    def _write_attributes(
        self, table: str, attrs: AttributeTable, index_map: np.ndarray, titles: dict[int, str]
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
            self._db.executemany("UPDATE items SET attributes=?, title=? WHERE idx=?", rows)
        else:
            self._db.executemany(
                "UPDATE users SET attributes=? WHERE idx=?", [(a, i) for a, _, i in rows]
            )

    # -- reads -----------------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        one = self._db.execute
        return StoreCounts(
            users=int(one("SELECT COUNT(*) FROM users").fetchone()[0]),
            items=int(one("SELECT COUNT(*) FROM items").fetchone()[0]),
            events=int(one("SELECT COUNT(*) FROM events").fetchone()[0]),
        )

    def item_windows(
        self,
    ) -> Iterator[tuple[int, float | None, float | None, float | None, bool]]:
        """(item index, available_from, available_until, created, blocked) of items that set
        any of them."""
        for idx, av_from, av_until, created, blocked in self._db.execute(
            "SELECT idx, available_from, available_until, created, blocked FROM items WHERE "
            "available_from IS NOT NULL OR available_until IS NOT NULL OR created IS NOT NULL "
            "OR blocked"
        ):
            yield idx, av_from, av_until, created, bool(blocked)

    def item_attributes(self, item_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT attributes FROM items WHERE ext_id=?", (item_id,)).fetchone()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    def user_attributes(self, user_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT attributes FROM users WHERE ext_id=?", (user_id,)).fetchone()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    def to_dataset(self, *, events: bool = True) -> Dataset:
        """Everything in the store as an in-memory `Dataset` (for training and inspection).

        With `events=False` the interactions are left empty: the catalogue, user attributes and
        vocabularies alone, for a reader that streams the events itself (the engine).
        """
        users, items = self.vocabulary("users"), self.vocabulary("items")
        query = (
            "SELECT user_idx, item_idx, event_type, ts, COALESCE(value, 'NaN') FROM events "
            "ORDER BY seq" + ("" if events else " LIMIT 0")
        )
        cols = np.array(self._db.execute(query).fetchall(), dtype=np.float64).reshape(-1, 5)
        interactions = Interactions.sorted_by_time(
            cols[:, 0].astype(np.int64),
            cols[:, 1].astype(np.int64),
            cols[:, 3],
            cols[:, 2].astype(np.int16),
            cols[:, 4].astype(np.float32),
        )
        item_attrs, titles = self._attribute_table("items", "item_fields")
        user_attrs, _ = self._attribute_table("users", "user_fields")
        return Dataset(
            name=self.get_meta("name", self.path.stem) or self.path.stem,
            interactions=interactions,
            users=users,
            items=items,
            event_types=self.event_types(),
            item_attributes=item_attrs,
            user_attributes=user_attrs,
            item_titles=titles,
            has_timestamps=json.loads(self.get_meta("has_timestamps", "true") or "true"),
        )

    def _attribute_table(
        self, table: str, fields_key: str
    ) -> tuple[AttributeTable, dict[int, str]]:
        rows: list[list[str]] = []
        titles: dict[int, str] = {}
        for idx, raw in self._db.execute(f"SELECT idx, attributes FROM {table} ORDER BY idx"):
            attrs = json.loads(raw) if raw else {}
            if isinstance(attrs.get("title"), str):
                titles[int(idx)] = attrs["title"]
            rows.append(attribute_tokens(attrs))
        fields = tuple(json.loads(self.get_meta(fields_key, "[]") or "[]"))
        if not any(rows):
            return AttributeTable.empty(), titles
        return AttributeTable.from_rows(rows, fields=fields), titles


def _title(attributes: dict[str, AttributeValue]) -> str | None:
    title = attributes.get("title")
    return title if isinstance(title, str) else None


class _Checkpointer(threading.Thread):
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval_s` on its own connection."""

    def __init__(self, path: Path, interval_s: float) -> None:
        super().__init__(name="attune-wal-checkpoint", daemon=True)
        self._path = path
        self._interval = interval_s
        self._halt = threading.Event()
        self.checkpoints = 0
        """Checkpoints run so far (tests)."""

    def run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while not self._halt.wait(self._interval):
                try:
                    # (busy, WAL pages, pages moved): nothing to do when the log is empty.
                    busy, pages, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += int(pages > 0 and not busy)
                except sqlite3.Error as exc:  # retried at the next interval
                    _log.warning("background checkpoint failed", error=str(exc))
        finally:
            db.close()

    def stop(self) -> None:
        self._halt.set()
        self.join()
