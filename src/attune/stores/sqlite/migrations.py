"""Versioned schema of the embedded SQLite store. Append new steps; never edit old ones.

`PRAGMA user_version` records how many steps a database has applied.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: vocabularies with attributes, the event log, and store metadata.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        idx INTEGER PRIMARY KEY,          -- internal index, stable forever
        ext_id TEXT NOT NULL UNIQUE,
        attributes TEXT                   -- JSON object, NULL when none
    );
    CREATE TABLE items (
        idx INTEGER PRIMARY KEY,
        ext_id TEXT NOT NULL UNIQUE,
        title TEXT,
        attributes TEXT,
        available_from REAL,
        available_until REAL,
        created REAL
    );
    CREATE TABLE event_types (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,          -- log position: replay order and stream offset
        user_idx INTEGER NOT NULL,
        item_idx INTEGER NOT NULL,
        event_type INTEGER NOT NULL,
        ts REAL NOT NULL,
        value REAL,
        recommendation_id TEXT,
        context TEXT
    );
    CREATE INDEX events_user ON events (user_idx, seq);
    """,
    # 2: the global blocklist.
    """
    ALTER TABLE items ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: served lists (impressions), and the join of events to them by recommendation id.
    """
    CREATE TABLE impressions (
        recommendation_id TEXT PRIMARY KEY,
        user_idx INTEGER,                 -- NULL: unknown user when served
        ts REAL NOT NULL,
        model_version INTEGER NOT NULL,
        source TEXT NOT NULL,
        items TEXT NOT NULL,              -- JSON array of item indices, in position order
        reasons TEXT NOT NULL             -- JSON array of reason kinds, one per position
    );
    CREATE INDEX impressions_user ON impressions (user_idx);
    CREATE INDEX events_recommendation ON events (recommendation_id)
        WHERE recommendation_id IS NOT NULL;
    """,
    # 4: client event ids, unique per user: a repeated id is not logged again (idempotent
    # ingest). Events without an id stay out of the index.
    """
    ALTER TABLE events ADD COLUMN event_id TEXT;
    CREATE UNIQUE INDEX events_event_id ON events (user_idx, event_id)
        WHERE event_id IS NOT NULL;
    """,
    # 5: the online experiment and arm a list was served in ('' when none).
    """
    ALTER TABLE impressions ADD COLUMN experiment TEXT NOT NULL DEFAULT '';
    ALTER TABLE impressions ADD COLUMN arm TEXT NOT NULL DEFAULT '';
    """,
)
