"""Storage backends. The embedded default is SQLite (`attune.stores.sqlite`)."""

from attune.stores.sqlite import Durability, SQLiteStore, StoreCounts, StoreError

__all__ = ["Durability", "SQLiteStore", "StoreCounts", "StoreError"]
