"""Id vocabularies shared through Redis, with a local read-through cache.

The list `…:ids` holds index -> id and the hash `…:idx` id -> index, both in the slot of the
vocabulary's tag. One Lua script grows them, so two servers adding the same or different ids at
once never give one index twice or one id two indices. Indices are append-only, which is what
lets every process cache them: an unknown id or index is read through to Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from attune.data.vocab import Vocabulary
from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key

_GROW = """
local out = {}
for i, id in ipairs(ARGV) do
  local idx = redis.call('HGET', KEYS[2], id)
  if not idx then
    idx = redis.call('RPUSH', KEYS[1], id) - 1
    redis.call('HSET', KEYS[2], id, idx)
  end
  out[i] = tonumber(idx)
end
return out
"""

_RENAME = """
local old = redis.call('LINDEX', KEYS[1], ARGV[1])
if not old then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return -1 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[2], old)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

_REKEY = """
local done = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if done ~= tonumber(ARGV[2]) then return -1 end
local renamed = 0
for i = 4, #ARGV, 3 do
  local old = redis.call('LINDEX', KEYS[1], ARGV[i])
  if old == ARGV[i + 1] then
    redis.call('LSET', KEYS[1], ARGV[i], ARGV[i + 2])
    redis.call('HDEL', KEYS[2], old)
    redis.call('HSET', KEYS[2], ARGV[i + 2], ARGV[i])
    renamed = renamed + 1
  end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return renamed
"""
"""Rename one batch of a rotation (index, expected id, new id triples) and move the
rotation's progress from ARGV[2] to ARGV[3] with it: a batch is applied once, and an id that
changed since it was read (an erasure's tombstone) is left alone."""

REKEY_BATCH = 1000
"""Ids one rotation script renames (a few milliseconds of Redis each)."""


class RedisVocabulary:
    """`IdVocabulary` of one id space (`users` or `items`) in Redis."""

    def __init__(self, client: Client, name: str) -> None:
        self._r = client
        self._tag = f"vocab:{name}"
        self._ids_key = global_key(f"vocab:{name}", "ids")
        self._idx_key = global_key(f"vocab:{name}", "idx")
        self._grow = client.register_script(_GROW)
        self._rename = client.register_script(_RENAME)
        self._cache = Vocabulary()
        self._lock = threading.Lock()  # one extension of the cache at a time (threads)

    def sync(self) -> int:
        """Pull the ids other processes added since the last look; returns the size."""
        size = int(self._r.llen(self._ids_key))
        with self._lock:  # a cache half extended by another thread is not read
            start = len(self._cache)
            if size > start:
                tail = self._r.lrange(self._ids_key, start, size - 1)
                self._cache.extend(x.decode() for x in tail)
            return len(self._cache)

    def add_many(self, external_ids: Sequence[str]) -> list[int]:
        """Indices of `external_ids`, adding the unknown ones (atomically, in Redis) in the
        order they first appear, as every backend does (an import keeps the source's order)."""
        missing = list(dict.fromkeys(x for x in external_ids if x not in self._cache))
        if missing:
            self._grow(keys=[self._ids_key, self._idx_key], args=missing)
            self.sync()
        return [self._cache.index(x) for x in external_ids]

    def add(self, external_id: str) -> int:
        return self.add_many([external_id])[0]

    def rename(self, index: int, new_id: str) -> None:
        """Give an index a new id (an erased user's tombstone), in Redis and in the cache."""
        done = self._rename(keys=[self._ids_key, self._idx_key], args=[index, new_id])
        if int(done) < 0:
            raise ValueError(f"id {new_id!r} already exists")
        self.sync()
        if index < len(self._cache) and self._cache.external(index) != new_id:
            self._cache.rename(index, new_id)

    def rekey(self, rotation: str, rekey: Callable[[str], str]) -> int:
        """Replace every id but the tombstones by `rekey(id)`, in batches that each move the
        rotation's recorded progress with them (in the vocabulary's slot): an interrupted
        rotation resumes where it stopped, and a finished one changes nothing again. The
        other processes' caches are stale afterwards: run it with the servers stopped."""
        progress_key = global_key(self._tag, "rotations")
        rename = self._r.register_script(_REKEY)
        # The ids to re-key are those stored when the rotation first ran: ids added after it
        # (by servers already on the new key) are new pseudonyms, never re-keyed by a rerun.
        self._r.hsetnx(progress_key, f"{rotation}:end", int(self._r.llen(self._ids_key)))
        last = int(self._r.hget(progress_key, f"{rotation}:end") or 0)
        total = 0
        while True:
            start = int(self._r.hget(progress_key, rotation) or 0)
            end = min(start + REKEY_BATCH, last)
            if end <= start:
                break
            old = [x.decode() for x in self._r.lrange(self._ids_key, start, end - 1)]
            args: list[str | int] = [rotation, start, end]
            for idx, current in enumerate(old, start):
                if not current.startswith("\x00"):
                    args += [idx, current, rekey(current)]
            done = int(rename(keys=[self._ids_key, self._idx_key, progress_key], args=args))
            if done < 0:
                raise RuntimeError(f"rotation {rotation}: another process is re-keying ids")
            total += done
        with self._lock:
            self._cache = Vocabulary()
        self.sync()
        return total

    def __len__(self) -> int:
        return self.sync()

    @property
    def ids(self) -> Sequence[str]:
        self.sync()
        return self._cache.ids

    def __contains__(self, external_id: object) -> bool:
        return isinstance(external_id, str) and self.get(external_id) >= 0

    def get(self, external_id: str, default: int = -1) -> int:
        idx = self._cache.get(external_id)
        if idx >= 0:
            return idx
        if self._r.hexists(self._idx_key, external_id):
            self.sync()
            return self._cache.get(external_id, default)
        return default

    def index(self, external_id: str) -> int:
        idx = self.get(external_id)
        if idx < 0:
            raise KeyError(f"unknown id {external_id!r}")
        return idx

    def external(self, index: int) -> str:
        try:
            return self._cache.external(index)
        except IndexError:  # added by another process since the last look
            self.sync()
            return self._cache.external(index)

    def encode(self, external_ids: Iterable[str], grow: bool = True) -> np.ndarray:
        ids = list(external_ids)
        if grow:
            return np.asarray(self.add_many(ids), dtype=np.int64)
        return np.fromiter((self.get(x) for x in ids), dtype=np.int64, count=len(ids))

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self.external(int(i)) for i in indices]

    def as_vocabulary(self) -> Vocabulary:
        """A fresh in-process copy of every id (for a `Dataset`)."""
        return Vocabulary(self.ids)
