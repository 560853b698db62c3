"""API keys and the model-version pointer in Redis (small, shared, read often)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from attune.ports import KeyRecord
from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key

KEY_RECORDS = global_key("keys", "records")
KEY_VERSION = global_key("keys", "version")
KEY_AUTH = global_key("keys", "auth")
"""1 while requests need a key (set with the first key; cleared only explicitly)."""

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
    """`KeyStore` in one hash; every change bumps a counter in the same slot (MULTI)."""

    def __init__(self, client: Client) -> None:
        self._r = client

    def load(self) -> Sequence[KeyRecord]:
        rows = self._r.hgetall(KEY_RECORDS)
        return sorted(
            (KeyRecord.model_validate_json(v) for v in rows.values()), key=lambda k: k.created
        )

    def add(self, record: KeyRecord) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(KEY_RECORDS, record.id, record.model_dump_json()).set(KEY_AUTH, 1)
        pipe.incr(KEY_VERSION).execute()

    def auth_required(self) -> bool:
        flag = self._r.get(KEY_AUTH)
        return bool(self._r.hlen(KEY_RECORDS)) if flag is None else flag in (b"1", "1")

    def set_auth_required(self, required: bool) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.set(KEY_AUTH, int(required)).incr(KEY_VERSION).execute()

    def remove(self, key_id: str) -> bool:
        pipe = self._r.pipeline(transaction=True)
        pipe.hdel(KEY_RECORDS, key_id).incr(KEY_VERSION)
        return bool(pipe.execute()[0])

    def version(self) -> str:
        return str(int(self._r.get(KEY_VERSION) or 0))


class RedisModelPointer:
    """`ModelPointer` of one registry: a JSON list of versions, the last one current."""

    def __init__(self, client: Client, registry: Path) -> None:
        self._r = client
        self._key = global_key(f"pointer:{registry}", "history")
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
