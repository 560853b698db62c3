"""The embedded SQLite backend (the default)."""

from attune.stores.sqlite.storage import SQLiteStorage

__all__ = ["SQLiteStorage"]
