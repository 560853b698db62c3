"""The event log: one atomic per-user write acknowledges an event, then the partitioned feed.

`append_events` (docs/scaling.md, "What acknowledged means"): an intent in the user's feed
partition; the user's script, which de-duplicates by event id and stores each new event in the
user's record (`pending`) and in the user's state tail, atomically (the acknowledgement); the
partition's feed script, which gives log positions and appends to the stream
`attune:{log:<p>}:events` (entry id `<seq>-0`), idempotently per event key; the user's commit
script (seqs indexed, pending cleared, seqs written into the tail); the intent dropped. A
process that dies after the user's script leaves pending events and their intents, which
`repair` (run when a storage opens) takes to the end.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from attune.data.events import EventTypes, Interaction
from attune.log import get_logger
from attune.ports import LoggedEvent, StorageError
from attune.stores.redis.connection import Client, run_script
from attune.stores.redis.feed import RedisFeed, partition_key
from attune.stores.redis.layout import META, user_key
from attune.stores.redis.records import logged, payload, tail_entry
from attune.stores.redis.vocab import RedisVocabulary

_log = get_logger(__name__)

_READ_PAGE = 10_000
INTENT_GRACE_S = 60.0
"""An intent whose event is not pending is dropped by `repair` only when older than this: a
live writer between its intent and its user script keeps it."""

_USER_WRITE = """
local now, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
if keep > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - keep) end
local out = {}
for i = 3, #ARGV, 4 do
  local key, id = ARGV[i], ARGV[i + 1]
  if id ~= '' and redis.call('ZSCORE', KEYS[2], id) then
    out[#out + 1] = 0
  else
    if id ~= '' then redis.call('ZADD', KEYS[2], now, id) end
    redis.call('HSET', KEYS[1], key, ARGV[i + 2])
    redis.call('RPUSH', KEYS[3], ARGV[i + 3])
    out[#out + 1] = 1
  end
end
return out
"""

_LOG_APPEND = """
local ttl, parts, part = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local out = {}
for i = 3, #KEYS do
  local done = redis.call('GET', KEYS[i])
  if done then
    out[#out + 1] = tonumber(done)
  else
    local c = redis.call('INCR', KEYS[1])
    if c <= floor then
      c = floor + 1
      redis.call('SET', KEYS[1], c)
    end
    local seq = c * parts + part
    redis.call('XADD', KEYS[2], seq .. '-0', 'e', ARGV[i + 2])
    redis.call('SET', KEYS[i], seq, 'EX', ttl)
    out[#out + 1] = seq
  end
end
return out
"""

_COMMIT = """
local seqs = {}
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 1])
  redis.call('HDEL', KEYS[1], ARGV[i])
  seqs[ARGV[i]] = ARGV[i + 1]
end
local tail = redis.call('LRANGE', KEYS[3], 0, -1)
for j, entry in ipairs(tail) do
  local key, seq, rest = string.match(entry, '^(%S+) (%S+) (.*)$')
  if seq == '0' and seqs[key] then
    redis.call('LSET', KEYS[3], j - 1, key .. ' ' .. seqs[key] .. ' ' .. rest)
  end
end
return #ARGV / 2
"""

Parked = tuple[int, str, str]
"""An event on its way: (user, event key, payload)."""


class RedisEventLog:
    """`EventLog` in Redis (see the module docstring)."""

    def __init__(
        self,
        client: Client,
        users: RedisVocabulary,
        items: RedisVocabulary,
        *,
        partitions: int | None = None,
        dedup_retention_s: float = 0.0,
        marker_ttl_s: int = 86_400,
    ) -> None:
        self._r, self.users, self.items = client, users, items
        self.partitions = _resolve_partitions(client, partitions)
        """P: the feed's streams (fixed when the deployment was first opened)."""
        self.dedup_retention_s = dedup_retention_s
        """Forget a user's event ids this long after they were seen; 0: keep them until the
        user is erased (the `EventLog` contract; a window bounds memory instead)."""
        self.marker_ttl_s = marker_ttl_s
        self._floor = 0  # highest partition counter seen: the feed script's Lamport floor
        self._floor_lock = threading.Lock()  # appends of several threads raise it
        self._ensured: EventTypes | None = None  # the event types found stored
        self._user_write = client.register_script(_USER_WRITE)
        self._log_append = client.register_script(_LOG_APPEND)
        self._commit = client.register_script(_COMMIT)

    def event_types(self) -> EventTypes:
        raw = self._r.hget(META, "event_types")
        return EventTypes() if raw is None else EventTypes.model_validate_json(raw)

    def ensure_event_types(self, event_types: EventTypes) -> None:
        if event_types == self._ensured:  # stored ones never change
            return
        text = event_types.model_dump_json()
        if not self._r.hsetnx(META, "event_types", text) and self.event_types() != event_types:
            raise StorageError("redis: configured event types differ from the stored ones")
        self._ensured = event_types

    def partition(self, user: int) -> int:
        return user % self.partitions

    def stream(self, part: int) -> str:
        return partition_key(part, "events")

    def append_events(
        self, events: Sequence[Interaction], event_types: EventTypes | None = None
    ) -> list[LoggedEvent]:
        et = event_types or self.event_types()
        codes = [et.code(e.event_type) for e in events]  # before any write: all or nothing
        self.ensure_event_types(et)
        users = self.users.add_many([e.user_id for e in events])
        items = self.items.add_many([e.item_id for e in events])
        parked: list[Parked] = []  # in batch order
        for e, u, i, code in zip(events, users, items, codes, strict=True):
            value = math.nan if e.value is None else e.value
            ts = e.timestamp.timestamp()
            data = payload(u, i, code, ts, value, e.recommendation_id, e.context)
            parked.append((u, uuid.uuid4().hex, data))
        ids = [e.event_id or "" for e in events]
        accepted = self.write_pending(parked, ids)
        return self.publish(accepted)

    def write_pending(self, parked: list[Parked], event_ids: list[str]) -> list[Parked]:
        """The intents, then each user's script (the acknowledgement): the events that were
        new (seen event ids dropped), in batch order."""
        if not parked:
            return []
        by_user: dict[int, list[int]] = {}
        for n, (u, _, _) in enumerate(parked):
            by_user.setdefault(u, []).append(n)
        now = str(time.time())
        calls = []
        for u, rows in by_user.items():
            args: list[str] = [now, str(self.dedup_retention_s)]
            for n in rows:
                _, key, data = parked[n]
                args += [key, event_ids[n], data, tail_entry(key, data)]
            keys = [user_key(u, "pending"), user_key(u, "seen"), user_key(u, "tail")]
            calls.append((keys, args))
        replies = run_script(
            self._r, self._user_write, calls, before=lambda to: self._intend(parked, to)
        )
        kept: set[int] = set()
        repeated: set[int] = set()  # users with an event id seen before
        for (u, rows), flags in zip(by_user.items(), replies, strict=True):
            kept.update(n for n, flag in zip(rows, flags, strict=True) if int(flag))
            repeated.update(u for flag in flags if not int(flag))
        dropped = [row for n, row in enumerate(parked) if n not in kept]
        if dropped:
            self._drop_intents(dropped)
        if repeated:
            self._finish_parked(repeated, {parked[n][1] for n in kept})
        return [row for n, row in enumerate(parked) if n in kept]

    def _finish_parked(self, users: set[int], own: set[str]) -> None:
        """A repeated event id is usually a client's retry; when its first write was left
        parked by a writer that died before the log (its ack never sent), take that user's
        parked events to the feed now rather than at the next repair on open. A live writer's
        events taken too keep their seq (the feed script's markers)."""
        stalled: list[Parked] = []
        for u in sorted(users):
            pending = self._r.hgetall(user_key(u, "pending"))
            stalled += [
                (u, k.decode(), p.decode())
                for k, p in sorted(pending.items())
                if k.decode() not in own
            ]
        if stalled:
            self.publish(stalled)
            _log.info("redis event log finished a parked write", events=len(stalled))

    def _intend(self, parked: list[Parked], to: Any) -> None:
        """Queue the intents of `parked` on a pipeline (`to`) or send them at once (`to` a
        client)."""
        now = time.time()
        by_part: dict[int, dict[str, float]] = {}
        for u, key, _ in parked:
            by_part.setdefault(self.partition(u), {})[f"{u}:{key}"] = now
        for part, members in by_part.items():
            to.zadd(partition_key(part, "intents"), members)

    def _drop_intents(self, parked: list[Parked]) -> None:
        by_part: dict[int, list[str]] = {}
        for u, key, _ in parked:
            by_part.setdefault(self.partition(u), []).append(f"{u}:{key}")
        pipe = self._r.pipeline(transaction=False)
        for part, members in by_part.items():
            pipe.zrem(partition_key(part, "intents"), *members)
        pipe.execute()

    def publish(self, parked: list[Parked]) -> list[LoggedEvent]:
        """The feed scripts (one per partition), the users' commits, the intents dropped."""
        if not parked:
            return []
        seq_of = self.feed_append(parked)
        by_user: dict[int, list[str]] = {}
        for u, key, _ in parked:
            by_user.setdefault(u, []).extend([key, str(seq_of[key])])
        calls = [
            ([user_key(u, "pending"), user_key(u, "seqs"), user_key(u, "tail")], args_u)
            for u, args_u in by_user.items()
        ]
        run_script(self._r, self._commit, calls)
        self._drop_intents(parked)
        return [logged(seq_of[key], data) for _, key, data in parked]

    def feed_append(self, parked: list[Parked]) -> dict[str, int]:
        """Each partition's feed script over its events: event key -> seq."""
        by_part: dict[int, list[Parked]] = {}
        for row in parked:
            by_part.setdefault(self.partition(row[0]), []).append(row)
        seq_of: dict[str, int] = {}
        for part, rows in by_part.items():
            markers = [partition_key(part, f"done:{key}") for _, key, _ in rows]
            keys = [partition_key(part, "seq"), self.stream(part), *markers]
            head = [str(self.marker_ttl_s), str(self.partitions), str(part), str(self._floor)]
            seqs = [int(s) for s in self._log_append(keys=keys, args=head + [p for *_, p in rows])]
            for (_, key, _), seq in zip(rows, seqs, strict=True):
                seq_of[key] = seq
            with self._floor_lock:
                self._floor = max(self._floor, max(seqs) // self.partitions)
        return seq_of

    def repair(self) -> int:
        """Take every pending event of the users named by an intent (a writer died after the
        user script) to the feed; drop intents of events no longer pending once older than
        `INTENT_GRACE_S`; returns how many events were taken. Idempotent: an event already in
        the feed keeps its seq."""
        stale_before = time.time() - INTENT_GRACE_S
        parked: list[Parked] = []
        stale: list[Parked] = []
        for part in range(self.partitions):
            intents = self._r.zrange(partition_key(part, "intents"), 0, -1, withscores=True)
            by_user: dict[int, list[tuple[str, float]]] = {}
            for member, score in intents:
                u, key = member.decode().split(":", 1)
                by_user.setdefault(int(u), []).append((key, score))
            for u, keys in sorted(by_user.items()):
                pending = self._r.hgetall(user_key(u, "pending"))
                for k, p in sorted(pending.items()):
                    parked.append((u, k.decode(), p.decode()))
                held = {k.decode() for k in pending}
                stale += [(u, k, "") for k, t in keys if k not in held and t < stale_before]
        if parked:
            self.publish(parked)
            _log.warning("redis event log repaired", events=len(parked))
        if stale:
            self._drop_intents(stale)
        return len(parked)

    def append_rows(
        self,
        rows: list[tuple[int, int, int, float, float]],
        event_ids: Sequence[str | None] | None = None,
    ) -> int:
        """Bulk rows (user, item, event type, time, value) in internal indices (imports), with
        their event ids if they have them, through the same steps as `append_events`; returns
        how many were new."""
        ids = [x or "" for x in event_ids] if event_ids is not None else [""] * len(rows)
        added = 0
        for start in range(0, len(rows), 5_000):
            chunk = rows[start : start + 5_000]
            parked = [
                (u, uuid.uuid4().hex, payload(u, i, t, ts, v, None, {})) for u, i, t, ts, v in chunk
            ]
            added += len(self.publish(self.write_pending(parked, ids[start : start + 5_000])))
        return added

    def feed(self, group: str, consumer: str) -> RedisFeed:
        """A consumer-group reader of every partition (the learning job's)."""
        return RedisFeed(self._r, self.partitions, group, consumer)

    def read_events(self, after: int = 0, *, user: int | None = None) -> Iterator[LoggedEvent]:
        if user is not None:
            return iter(self._read_user(after, user))
        if self.partitions == 1:
            return self._read_stream(0, after)
        streams = [self._read_stream(p, after) for p in range(self.partitions)]
        return heapq.merge(*streams, key=lambda e: e.seq)

    def _read_stream(self, part: int, after: int) -> Iterator[LoggedEvent]:
        start, stream = f"{after + 1}-0", self.stream(part)
        while True:
            page = self._r.xrange(stream, min=start, max="+", count=_READ_PAGE)
            for entry_id, fields in page:
                yield logged(int(entry_id.split(b"-")[0]), fields[b"e"])
            if len(page) < _READ_PAGE:
                return
            start = f"{int(page[-1][0].split(b'-')[0]) + 1}-0"

    def _read_user(self, after: int, user: int) -> list[LoggedEvent]:
        seqs = [int(s) for s in self._r.zrangebyscore(user_key(user, "seqs"), f"({after}", "+inf")]
        stream = self.stream(self.partition(user))
        pipe = self._r.pipeline(transaction=False)
        for s in seqs:
            pipe.xrange(stream, min=f"{s}-0", max=f"{s}-0")
        out: list[LoggedEvent] = []
        for s, entries in zip(seqs, pipe.execute(), strict=True):
            out.extend(logged(s, fields[b"e"]) for _, fields in entries)
        return out

    def event_columns(self) -> np.ndarray:
        rows: list[Any] = [e[:6] for e in self.read_events(0)]
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def heads(self) -> list[int]:
        """The newest seq of each partition (0 where none)."""
        tops = [self._r.xrevrange(self.stream(p), count=1) for p in range(self.partitions)]
        return [int(top[0][0].split(b"-")[0]) if top else 0 for top in tops]

    def last_seq(self) -> int:
        return max(self.heads())

    def count(self) -> int:
        return sum(int(self._r.xlen(self.stream(p))) for p in range(self.partitions))

    def erase_user(self, user: int) -> int:
        seqs = self._r.zrange(user_key(user, "seqs"), 0, -1)
        stream = self.stream(self.partition(user))
        removed = int(self._r.xdel(stream, *[f"{int(s)}-0" for s in seqs])) if seqs else 0
        parts = ("seqs", "pending", "seen", "tail")
        self._r.delete(*(user_key(user, part) for part in parts))
        return removed


def _resolve_partitions(client: Client, requested: int | None) -> int:
    """The deployment's P: set by its first opening (default 1), the same for every later one."""
    if requested is not None and requested < 1:
        raise ValueError("partitions must be at least 1")
    client.hsetnx(META, "log_partitions", str(requested or 1))
    stored = int(client.hget(META, "log_partitions") or 1)
    if requested is not None and requested != stored:
        raise StorageError(f"redis: the log has {stored} partitions, not {requested}")
    return stored
