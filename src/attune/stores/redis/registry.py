"""API keys and the model-version pointer in Redis (small, shared, read often)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from attune.ports import KeyRecord
from attune.schemas.experiments import Experiment
from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key

KEY_RECORDS = global_key("keys", "records")
KEY_ORDER = global_key("keys", "order")
"""Sorted set: key id -> the change number that added it (`load` lists keys in that order)."""
KEY_VERSION = global_key("keys", "version")
KEY_AUTH = global_key("keys", "auth")
"""1 while requests need a key (set with the first key; cleared only explicitly)."""

_KEYS = [KEY_RECORDS, KEY_ORDER, KEY_VERSION, KEY_AUTH]

_ADD = """
local change = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], change, ARGV[1])
redis.call('SET', KEYS[4], 1)
return change
"""

_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
"""

_SET_CURRENT = """
local raw = redis.call('GET', KEYS[1])
local history = raw and cjson.decode(raw) or {}
local v = tonumber(ARGV[1])
if history[#history] == v then return 0 end
history[#history + 1] = v
redis.call('SET', KEYS[1], cjson.encode(history))
return 1
"""


class RedisKeyStore:
    """`KeyStore` in one hash and the order keys were added in; every change (and only a
    change) bumps a counter, in one script per change (all in the `{keys}` slot)."""

    def __init__(self, client: Client) -> None:
        self._r = client
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)

    def load(self) -> Sequence[KeyRecord]:
        """Every key, in the order added (as the other backends list them)."""
        rows = self._r.hgetall(KEY_RECORDS)
        order = {k: n for k, n in self._r.zrange(KEY_ORDER, 0, -1, withscores=True)}
        ids = sorted(rows, key=lambda k: order.get(k, 0.0))
        return [KeyRecord.model_validate_json(rows[k]) for k in ids]

    def add(self, record: KeyRecord) -> None:
        self._add(keys=_KEYS, args=[record.id, record.model_dump_json()])

    def auth_required(self) -> bool:
        flag = self._r.get(KEY_AUTH)
        return bool(self._r.hlen(KEY_RECORDS)) if flag is None else flag in (b"1", "1")

    def set_auth_required(self, required: bool) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.set(KEY_AUTH, int(required)).incr(KEY_VERSION).execute()

    def remove(self, key_id: str) -> bool:
        return bool(self._remove(keys=_KEYS, args=[key_id]))

    def version(self) -> str:
        return str(int(self._r.get(KEY_VERSION) or 0))


class RedisModelPointer:
    """`ModelPointer` of one registry: a JSON list of versions, the last one current."""

    def __init__(self, client: Client, registry: Path) -> None:
        self._r = client
        self._key = global_key(f"pointer:{registry}", "history")
        self._experiment = global_key(f"pointer:{registry}", "experiment")
        self._set_current = client.register_script(_SET_CURRENT)

    def current(self) -> int | None:
        history = self.history()
        return history[-1] if history else None

    def history(self) -> list[int]:
        raw = self._r.get(self._key)
        return [] if raw is None else [int(v) for v in json.loads(raw)]

    def set_current(self, version: int) -> None:
        self._set_current(keys=[self._key], args=[int(version)])

    def set_history(self, history: list[int]) -> None:
        self._r.set(self._key, json.dumps([int(v) for v in history]))

    def experiment(self) -> Experiment | None:
        raw = self._r.get(self._experiment)
        return None if raw is None else Experiment.model_validate_json(raw)

    def set_experiment(self, experiment: Experiment | None) -> None:
        if experiment is None:
            self._r.delete(self._experiment)
        else:
            self._r.set(self._experiment, experiment.model_dump_json())
