"""The one place a backend is chosen: by the scheme of a storage URL.

sqlite:///abs/path.db, sqlite://rel/path.db, or a plain path   the embedded default
memory://                                                       in memory (tests, trials)
redis://host:port/db, rediss://host:port/db                     Redis, shared by many servers
redis+cluster://host:port, rediss+cluster://host:port           Redis Cluster (any one node)
"""

from __future__ import annotations

from pathlib import Path

from attune.ports import Durability, KeyStore, Storage, StorageError
from attune.stores.keyfile import FileKeyStore


def storage_path(url: str | Path) -> Path | None:
    """The database file of an embedded-storage URL or path; None for other backends."""
    text = str(url)
    if text.startswith("sqlite://"):
        return Path(text.removeprefix("sqlite://"))
    if "://" in text:
        return None
    return Path(text)


def open_storage(
    url: str | Path, *, durability: Durability = Durability.FULL, keys: Path | None = None
) -> Storage:
    """Open the storage at `url` (`StorageError` for an unknown scheme or unusable store).

    `keys` overrides where the embedded backend keeps its API keys (`<db>.keys.json`).
    """
    text = str(url)
    if text == "memory://" or text.startswith("memory://"):
        from attune.stores.memory import MemoryStorage

        return MemoryStorage()
    if text.startswith(("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")):
        from attune.stores.redis import RedisStorage

        return RedisStorage(text)
    path = storage_path(text)
    if path is None:
        scheme = text.split("://", 1)[0]
        known = "sqlite://, memory://, redis://, rediss://, redis+cluster://"
        raise StorageError(f"{text}: unknown storage scheme {scheme!r} ({known})")
    from attune.stores.sqlite import SQLiteStorage

    return SQLiteStorage(path, durability=durability, keys=keys)


def open_key_store(url: str | Path, keys: Path | None = None) -> KeyStore:
    """The API keys of a deployment without opening the rest of its storage (`attune keys`)."""
    path = storage_path(url)
    if keys is not None or path is not None:
        return FileKeyStore(keys or Path(str(path) + ".keys.json"))
    raise StorageError(f"{url}: keys of this backend are read through the open storage")
