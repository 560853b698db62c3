"""Impressions in hashes of one slot; the feedback report is the memory backend's Python join
over them and the event log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from attune.ports import FeedbackCounts, Impression, LoggedEvent, OutcomeRules
from attune.stores.memory.impressions import feedback_report
from attune.stores.redis.connection import Client
from attune.stores.redis.events import RedisEventLog
from attune.stores.redis.layout import global_key

LISTS = global_key("impressions", "lists")
"""recommendation id -> JSON [ts, model version, source, items, reasons, experiment, arm]
(lists written before experiments existed end at reasons)"""
USERS = global_key("impressions", "users")
"""recommendation id -> user index (absent while the user is unknown)"""
SERVED = global_key("impressions", "ts")
"""recommendation ids by served time"""
DEFINITION = global_key("impressions", "definition")

_WRITE = """
local n = tonumber(ARGV[1])
for i = 2, 1 + 4 * n, 4 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[3], ARGV[i + 2], ARGV[i])
    if ARGV[i + 3] ~= '' then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 3]) end
  end
end
for i = 2 + 4 * n, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""


class RedisImpressions:
    """`ImpressionLog` in Redis, joined against a `RedisEventLog`."""

    def __init__(self, client: Client, log: RedisEventLog) -> None:
        self._r, self._log = client, log
        self._write = client.register_script(_WRITE)

    def write(self, impressions: Sequence[Impression], adopted: Mapping[str, int]) -> None:
        """New lists and adoptions in one script: atomic, first write of a list wins."""
        args: list[str | int | float] = [len(impressions)]
        for i in impressions:
            body = [
                i.ts,
                i.model_version,
                i.source,
                list(i.items),
                list(i.reasons),
                i.experiment,
                i.arm,
            ]
            user = "" if i.user is None else str(i.user)
            args += [i.recommendation_id, json.dumps(body), repr(i.ts), user]
        for rid, user_idx in adopted.items():
            args += [rid, str(user_idx)]
        if len(args) > 1:
            self._write(keys=[LISTS, USERS, SERVED], args=args)

    def get(self, recommendation_id: str) -> Impression | None:
        body, user = self._r.hmget(LISTS, recommendation_id), self._r.hget(USERS, recommendation_id)
        return None if body[0] is None else _impression(recommendation_id, body[0], user)

    def _all(self) -> dict[str, Impression]:
        users = {k.decode(): v for k, v in self._r.hgetall(USERS).items()}
        return {
            rid.decode(): _impression(rid.decode(), body, users.get(rid.decode()))
            for rid, body in self._r.hgetall(LISTS).items()
        }

    def events_before(self, recommendation_id: str, seq: int) -> list[LoggedEvent]:
        return [
            e
            for e in self._log.read_events()
            if e.recommendation_id == recommendation_id and e.seq < seq
        ]

    def report(self, rules: OutcomeRules) -> FeedbackCounts:
        return feedback_report(self._all(), self._log.read_events(), rules)

    def count(self, user: int | None = None) -> int:
        if user is None:
            return int(self._r.hlen(LISTS))
        return sum(int(u) == user for u in self._r.hvals(USERS))

    def _delete(self, rids: list[str]) -> int:
        if not rids:
            return 0
        pipe = self._r.pipeline(transaction=True)
        pipe.hdel(LISTS, *rids).hdel(USERS, *rids).zrem(SERVED, *rids)
        return int(pipe.execute()[0])

    def delete_before(self, ts: float) -> int:
        rids = [r.decode() for r in self._r.zrangebyscore(SERVED, "-inf", f"({ts!r}")]
        return self._delete(rids)

    def erase_user(self, user: int) -> int:
        rids = [r.decode() for r, u in self._r.hgetall(USERS).items() if int(u) == user]
        return self._delete(rids)

    def save_definition(self, definition: Mapping[str, Any]) -> None:
        self._r.set(DEFINITION, json.dumps(dict(definition)))

    def definition(self) -> dict[str, Any] | None:
        raw = self._r.get(DEFINITION)
        return None if raw is None else dict(json.loads(raw))


def _impression(rid: str, body: bytes, user: bytes | None) -> Impression:
    ts, version, source, items, reasons, *tagged = json.loads(body)
    experiment, arm = tagged if tagged else ("", "")
    return Impression(
        rid,
        None if user is None else int(user),
        ts,
        version,
        source,
        tuple(items),
        tuple(reasons),
        experiment,
        arm,
    )
