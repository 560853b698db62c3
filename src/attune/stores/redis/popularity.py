"""Shared time-decayed popularity: one sorted set every server counts into.

As in `attune.ranking.popularity`, an event adds `weight * 2**((t - t_ref) / half_life)`
(`ZINCRBY`), which ranks the same as decaying every count; `t_ref` is set once (`SET NX`) and
moved forward when the growth factor nears float64's range, all in one script per batch of
events.
"""

from __future__ import annotations

import numpy as np

from attune.ranking.popularity import event_columns
from attune.stores.redis.connection import Client
from attune.stores.redis.events import RedisEventLog
from attune.stores.redis.layout import global_key

SCORES = global_key("popularity", "scores")
REFERENCE = global_key("popularity", "ref")
COUNTED = global_key("popularity", "counted")
"""Log position a server reported the counts complete at; absent: never counted, or
discarded (an erasure), and the next restore recounts the log."""
_RESCALE_EXPONENT = 500.0
_PAGE = 256

_BATCH = 5_000
"""Events per script call: one round trip (and one fsync) each, short enough that the server
is not held long by one."""

_ADD = """
local hl, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
local ref = tonumber(redis.call('GET', KEYS[2]))
for i = 3, #ARGV, 3 do
  local t = tonumber(ARGV[i + 1])
  local exponent = (t - ref) / hl
  if exponent > limit then
    local factor = 2 ^ ((ref - t) / hl)
    local rows = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    for j = 1, #rows, 2 do
      redis.call('ZADD', KEYS[1], tonumber(rows[j + 1]) * factor, rows[j])
    end
    redis.call('SET', KEYS[2], ARGV[i + 1])
    ref, exponent = t, 0
  end
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[i + 2]) * 2 ^ exponent, ARGV[i])
end
return 1
"""
"""Events (ARGV: half-life, rescale exponent, then item, time, weight per event) in one round
trip, each as if alone: the reference time set once (to the first event's time), the set
rescaled to a new one when the growth factor would pass 2**500 (float64 overflows past
2**1023), the weight added."""


_CLAIM = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""
"""Claim the recount of a never-counted (or discarded) set: one server empties it and counts."""


class RedisPopularity:
    """`PopularityCounts` shared through Redis."""

    def __init__(
        self, client: Client, n_items: int, half_life_seconds: float, log: RedisEventLog
    ) -> None:
        self._r, self._log = client, log
        self.half_life = half_life_seconds
        self._n = n_items
        self._add = client.register_script(_ADD)
        self._claim = client.register_script(_CLAIM)

    @property
    def n_items(self) -> int:
        return self._n

    def ensure_size(self, n_items: int) -> None:
        self._n = max(self._n, n_items)

    def add(self, item: int, timestamp: float, weight: float = 1.0) -> None:
        self.add_many(np.array([item]), np.array([timestamp]), np.array([weight]))

    def add_many(
        self, items: np.ndarray, timestamps: np.ndarray, weights: np.ndarray | None = None
    ) -> None:
        """The events in order, `_BATCH` to a script call: the same arithmetic as one by one."""
        ids, ts, w = event_columns(items, timestamps, weights)
        if len(ids) == 0:
            return
        self.ensure_size(int(ids.max()) + 1)
        head = [repr(self.half_life), repr(_RESCALE_EXPONENT)]
        columns = zip(ids.tolist(), ts.tolist(), w.tolist(), strict=True)
        rows = [(str(i), repr(t), repr(x)) for i, t, x in columns]
        for lo in range(0, len(rows), _BATCH):
            args = [a for row in rows[lo : lo + _BATCH] for a in row]
            self._add(keys=[SCORES, REFERENCE], args=head + args)

    def save_snapshot(self, last_seq: int) -> None:
        """The counts are in Redis already; record that they are complete up to `last_seq`."""
        self._r.set(COUNTED, str(max(last_seq, int(self._r.get(COUNTED) or 0))))

    def load_snapshot(self) -> int:
        """Every server counts the events it logs as it logs them, so once counted the counts
        follow the whole log: the log's end. Never counted (or discarded): the first server to
        ask empties the counts and gets 0, and its restore counts the log; a server asking
        meanwhile is told the log's end, so no event is counted twice. (Events imported into a
        deployment that has counted are not counted until the next discard.)"""
        last = self._log.last_seq()
        claimed = self._claim(keys=[SCORES, REFERENCE, COUNTED], args=[str(last)])
        return 0 if int(claimed) else last

    def discard_snapshot(self) -> None:
        self._r.delete(COUNTED)

    def _factor(self, now: float) -> float:
        ref = self._r.get(REFERENCE)
        return 0.0 if ref is None else 2.0 ** ((float(ref) - now) / self.half_life)

    def scores(self, now: float, items: np.ndarray | None = None) -> np.ndarray:
        ids = np.arange(self._n) if items is None else np.asarray(items, np.int64)
        if len(ids) == 0:
            return np.zeros(0)
        raw = self._r.zmscore(SCORES, [str(int(i)) for i in ids])
        values = np.array([0.0 if v is None else float(v) for v in raw])
        return values * self._factor(now)

    def top(
        self,
        k: int,
        now: float,
        *,
        allowed: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Counted items by falling count, then (items never counted score 0) the remaining
        allowed items by index, as `DecayedPopularity` does."""
        if allowed is not None:
            self.ensure_size(len(allowed))
        excluded = set() if exclude is None else {int(x) for x in exclude}

        def ok(i: int) -> bool:
            in_range = i < self._n if allowed is None else i < len(allowed) and bool(allowed[i])
            return in_range and i not in excluded

        picked: list[int] = []
        offset = 0
        while len(picked) < k:
            page = self._r.zrevrange(SCORES, offset, offset + _PAGE - 1)
            picked += [i for i in (int(m) for m in page) if ok(i)][: k - len(picked)]
            if len(page) < _PAGE:
                break
            offset += _PAGE
        if len(picked) < k:
            seen = set(picked)
            rest = (i for i in range(self._n) if i not in seen and ok(i))
            for i in rest:
                picked.append(i)
                if len(picked) == k:
                    break
        ids = np.asarray(picked, np.int64)
        return ids, self.scores(now, ids)
