"""The event log: a per-user write, then the log stream, with a pending marker between them.

`append_events` (docs/scaling.md, "What acknowledged means") runs three scripts, each inside
one slot: the user's script de-duplicates by event id and parks the events in the user's
`pending` hash; the log script gives them log positions and appends them to the stream
`attune:{log}:events` (entry id `<seq>-0`, so stream order is seq order), idempotently per
event key; the user's commit script indexes the seqs and clears the pending entries. A process
that dies between them leaves pending entries, which `repair` (run when a storage opens) takes
to the end.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from attune.data.events import EventTypes, Interaction
from attune.log import get_logger
from attune.ports import LoggedEvent, StorageError
from attune.stores.redis.connection import Client, run_script
from attune.stores.redis.layout import META, global_key, user_key, user_key_pattern, user_of_key
from attune.stores.redis.vocab import RedisVocabulary

_log = get_logger(__name__)

SEQ = global_key("log", "seq")
STREAM = global_key("log", "events")
_READ_PAGE = 10_000

_USER_WRITE = """
local now, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
if keep > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - keep) end
local out = {}
for i = 3, #ARGV, 3 do
  local key, id = ARGV[i], ARGV[i + 1]
  if id ~= '' and redis.call('ZSCORE', KEYS[2], id) then
    out[#out + 1] = 0
  else
    if id ~= '' then redis.call('ZADD', KEYS[2], now, id) end
    redis.call('HSET', KEYS[1], key, ARGV[i + 2])
    out[#out + 1] = 1
  end
end
return out
"""

_LOG_APPEND = """
local out = {}
for i = 3, #KEYS do
  local done = redis.call('GET', KEYS[i])
  if done then
    out[#out + 1] = tonumber(done)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('XADD', KEYS[2], seq .. '-0', 'e', ARGV[i - 1])
    redis.call('SET', KEYS[i], seq, 'EX', ARGV[1])
    out[#out + 1] = seq
  end
end
return out
"""

_COMMIT = """
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 1])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
return #ARGV / 2
"""


def _payload(
    user: int,
    item: int,
    code: int,
    ts: float,
    value: float,
    rid: str | None,
    context: dict[str, Any],
) -> str:
    v = None if math.isnan(value) else value
    return json.dumps([user, item, code, ts, v, rid, context or None], separators=(",", ":"))


def _logged(seq: int, payload: bytes | str) -> LoggedEvent:
    u, i, t, ts, v, rid, _ = json.loads(payload)
    return LoggedEvent(seq, u, i, t, ts, math.nan if v is None else v, rid)


class RedisEventLog:
    """`EventLog` in Redis (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        users: RedisVocabulary,
        items: RedisVocabulary,
        *,
        dedup_retention_s: float = 0.0,
        marker_ttl_s: int = 86_400,
    ) -> None:
        self._r, self.users, self.items = client, users, items
        self.dedup_retention_s = dedup_retention_s
        """Forget a user's event ids this long after they were seen; 0: keep them until the
        user is erased (the `EventLog` contract; a window bounds memory instead)."""
        self.marker_ttl_s = marker_ttl_s
        self._user_write = client.register_script(_USER_WRITE)
        self._log_append = client.register_script(_LOG_APPEND)
        self._commit = client.register_script(_COMMIT)

    def event_types(self) -> EventTypes:
        raw = self._r.hget(META, "event_types")
        return EventTypes() if raw is None else EventTypes.model_validate_json(raw)

    def ensure_event_types(self, event_types: EventTypes) -> None:
        text = event_types.model_dump_json()
        if self._r.hsetnx(META, "event_types", text):
            return
        if self.event_types() != event_types:
            raise StorageError("redis: configured event types differ from the stored ones")

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        et = event_types or self.event_types()
        codes = [et.code(e.event_type) for e in events]  # before any write: all or nothing
        self.ensure_event_types(et)
        users = self.users.add_many([e.user_id for e in events])
        items = self.items.add_many([e.item_id for e in events])
        parked: list[tuple[int, str, str]] = []  # (user, event key, payload), in batch order
        for e, u, i, code in zip(events, users, items, codes, strict=True):
            value = math.nan if e.value is None else e.value
            ts = e.timestamp.timestamp()
            payload = _payload(u, i, code, ts, value, e.recommendation_id, e.context)
            parked.append((u, uuid.uuid4().hex, payload))
        ids = [e.event_id or "" for e in events]
        accepted = self.write_pending(parked, ids)
        return self.publish(accepted)

    def write_pending(
        self, parked: list[tuple[int, str, str]], event_ids: list[str]
    ) -> list[tuple[int, str, str]]:
        """Step 1: each user's script parks its events (dropping seen event ids)."""
        by_user: dict[int, list[int]] = {}
        for n, (u, _, _) in enumerate(parked):
            by_user.setdefault(u, []).append(n)
        now = str(time.time())
        calls = []
        for u, rows in by_user.items():
            args: list[str] = [now, str(self.dedup_retention_s)]
            for n in rows:
                args += [parked[n][1], event_ids[n], parked[n][2]]
            calls.append(([user_key(u, "pending"), user_key(u, "seen")], args))
        replies = run_script(self._r, self._user_write, calls)
        kept: set[int] = set()
        for (_, rows), flags in zip(by_user.items(), replies, strict=True):
            kept.update(n for n, flag in zip(rows, flags, strict=True) if int(flag))
        return [row for n, row in enumerate(parked) if n in kept]

    def publish(self, parked: list[tuple[int, str, str]]) -> list[LoggedEvent]:
        """Steps 2 and 3: log positions and the stream, then the users' commits."""
        if not parked:
            return []
        markers = [global_key("log", f"done:{key}") for _, key, _ in parked]
        args = [str(self.marker_ttl_s), *(p for _, _, p in parked)]
        seqs = [int(s) for s in self._log_append(keys=[SEQ, STREAM, *markers], args=args)]
        by_user: dict[int, list[str]] = {}
        for (u, key, _), seq in zip(parked, seqs, strict=True):
            by_user.setdefault(u, []).extend([key, str(seq)])
        calls = [
            ([user_key(u, "pending"), user_key(u, "seqs")], args_u) for u, args_u in by_user.items()
        ]
        run_script(self._r, self._commit, calls)
        return [_logged(seq, p) for (_, _, p), seq in zip(parked, seqs, strict=True)]

    def repair(self) -> int:
        """Take every pending event (a writer died after step 1) into the log; returns how
        many. Idempotent: an event already in the log keeps its seq."""
        parked: list[tuple[int, str, str]] = []
        for key in self._r.scan_iter(match=user_key_pattern("pending"), count=1000):
            u = user_of_key(key)
            for k, p in sorted(self._r.hgetall(key).items()):
                parked.append((u, k.decode(), p.decode()))
        if parked:
            self.publish(parked)
            _log.warning("redis event log repaired", events=len(parked))
        return len(parked)

    def append_rows(
        self,
        rows: list[tuple[int, int, int, float, float]],
        event_ids: Sequence[str | None] | None = None,
    ) -> int:
        """Bulk rows (user, item, event type, time, value) in internal indices (imports), with
        their event ids if they have them, through the same three steps as `append_events`;
        returns how many were new."""
        ids = [x or "" for x in event_ids] if event_ids is not None else [""] * len(rows)
        added = 0
        for start in range(0, len(rows), 5_000):
            chunk = rows[start : start + 5_000]
            parked = [
                (u, uuid.uuid4().hex, _payload(u, i, t, ts, v, None, {}))
                for u, i, t, ts, v in chunk
            ]
            added += len(self.publish(self.write_pending(parked, ids[start : start + 5_000])))
        return added

    def read_events(self, after: int = 0, *, user: int | None = None) -> Iterator[LoggedEvent]:
        if user is not None:
            return iter(self._read_user(after, user))
        return self._read_all(after)

    def _read_all(self, after: int) -> Iterator[LoggedEvent]:
        start = f"{after + 1}-0"
        while True:
            page = self._r.xrange(STREAM, min=start, max="+", count=_READ_PAGE)
            for entry_id, fields in page:
                yield _logged(int(entry_id.split(b"-")[0]), fields[b"e"])
            if len(page) < _READ_PAGE:
                return
            start = f"{int(page[-1][0].split(b'-')[0]) + 1}-0"

    def _read_user(self, after: int, user: int) -> list[LoggedEvent]:
        seqs = [int(s) for s in self._r.zrangebyscore(user_key(user, "seqs"), f"({after}", "+inf")]
        pipe = self._r.pipeline(transaction=False)
        for s in seqs:
            pipe.xrange(STREAM, min=f"{s}-0", max=f"{s}-0")
        out: list[LoggedEvent] = []
        for s, entries in zip(seqs, pipe.execute(), strict=True):
            out.extend(_logged(s, fields[b"e"]) for _, fields in entries)
        return out

    def event_columns(self) -> np.ndarray:
        rows: list[Any] = [e[:6] for e in self._read_all(0)]
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def last_seq(self) -> int:
        newest = self._r.xrevrange(STREAM, count=1)
        return int(newest[0][0].split(b"-")[0]) if newest else 0

    def count(self) -> int:
        return int(self._r.xlen(STREAM))

    def erase_user(self, user: int) -> int:
        seqs = self._r.zrange(user_key(user, "seqs"), 0, -1)
        removed = int(self._r.xdel(STREAM, *[f"{int(s)}-0" for s in seqs])) if seqs else 0
        self._r.delete(user_key(user, "seqs"), user_key(user, "pending"), user_key(user, "seen"))
        return removed
