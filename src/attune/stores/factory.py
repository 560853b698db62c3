"""The one place a backend is chosen: by the scheme of a storage URL.

sqlite:///abs/path.db, sqlite://rel/path.db, or a plain path   the embedded default
memory://                                                       in memory (tests, trials)
redis://host:port/db, rediss://host:port/db                     Redis, shared by many servers
redis+cluster://host:port, rediss+cluster://host:port           Redis Cluster (any one node)
"""

from __future__ import annotations

from pathlib import Path

from attune.ports import Durability, KeyStore, ModelPointer, Storage, StorageError
from attune.stores.keyfile import FileKeyStore
from attune.stores.pointer import FileModelPointer


def storage_path(url: str | Path) -> Path | None:
    """The database file of an embedded-storage URL or path; None for other backends."""
    text = str(url)
    if text.startswith("sqlite://"):
        return Path(text.removeprefix("sqlite://"))
    if "://" in text:
        return None
    return Path(text)


_REDIS_SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")


def shared_storage(url: str | Path) -> bool:
    """Whether the backend named by `url` is shared by many processes (Redis), as its opened
    storage's `single_process` would say, without opening it."""
    return str(url).startswith(_REDIS_SCHEMES)


def redacted(url: str | Path) -> str:
    """A storage URL without its password (`redis://:secret@host` -> `redis://host`), for logs
    and messages."""
    scheme, sep, rest = str(url).partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else scheme


def open_storage(
    url: str | Path,
    *,
    durability: Durability = Durability.FULL,
    keys: Path | None = None,
    erasure_rebuild_s: float = 0.0,
) -> Storage:
    """Open the storage at `url` (`StorageError` for an unknown scheme or unusable store).

    `keys` overrides where the embedded backend keeps its API keys (`<db>.keys.json`);
    `erasure_rebuild_s` how long after an erasure it rebuilds its file once maintenance runs
    (see `stores.sqlite.scrub`).
    """
    text = str(url)
    if text == "memory://" or text.startswith("memory://"):
        from attune.stores.memory import MemoryStorage

        return MemoryStorage()
    if text.startswith(_REDIS_SCHEMES):
        from attune.stores.redis import RedisStorage

        return RedisStorage(text)
    path = storage_path(text)
    if path is None:
        scheme = text.split("://", 1)[0]
        known = "sqlite://, memory://, redis://, rediss://, redis+cluster://"
        raise StorageError(f"{text}: unknown storage scheme {scheme!r} ({known})")
    from attune.stores.sqlite import SQLiteStorage

    return SQLiteStorage(
        path, durability=durability, keys=keys, erasure_rebuild_s=erasure_rebuild_s
    )


def open_key_store(url: str | Path, keys: Path | None = None) -> KeyStore:
    """The API keys of a deployment without opening the rest of its storage (`attune keys`,
    the server's key ring): `keys` when given, else `<db>.keys.json` beside an embedded
    database, else the keys in Redis (one client of their own)."""
    path = storage_path(url)
    if keys is not None or path is not None:
        return FileKeyStore(keys or Path(str(path) + ".keys.json"))
    text = str(url)
    if shared_storage(text):
        from attune.stores.redis.connection import connect
        from attune.stores.redis.registry import RedisKeyStore

        try:
            return RedisKeyStore(connect(text))
        except ValueError as err:
            raise StorageError(f"{redacted(text)}: not a usable Redis URL ({err})") from err
    raise StorageError(f"{url}: keys of this backend are read through the open storage")


def open_model_pointer(url: str | Path, registry: Path) -> ModelPointer:
    """The current-version pointer of the model registry at `registry` in the deployment at
    `url`, as its storage's `model_pointer` gives it, without opening the rest (`attune models`):
    the registry's own `registry.json` for the embedded backend, a key for Redis."""
    text = str(url)
    if not shared_storage(text):
        return FileModelPointer(registry)
    from attune.stores.redis.connection import connect
    from attune.stores.redis.registry import RedisModelPointer

    try:
        return RedisModelPointer(connect(text), Path(registry).resolve())
    except ValueError as err:
        raise StorageError(f"{redacted(text)}: not a usable Redis URL ({err})") from err


def unavailable_errors() -> tuple[type[Exception], ...]:
    """The exceptions a storage raises when its server cannot be reached for now (Redis down,
    a timeout, a cluster failing over): the caller may retry later, the request was fine."""
    from redis.exceptions import ClusterDownError, TryAgainError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError)
