"""The learning feed's consumer group over the log's partition streams.

Each partition `p` of the log is one stream `attune:{log:<p>}:events` in a slot of its own;
the group exists on every one (`XGROUP CREATE … 0 MKSTREAM`), and a read is one `XREADGROUP`
per partition (a command never spans two slots). An event is in its stream once, so the group
delivers it once; one a consumer read and did not acknowledge is handed out again by
`claim_stale` (at least once to a consumer that dies before `ack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from redis.exceptions import ResponseError

from attune.ports import LoggedEvent
from attune.stores.redis.connection import Client
from attune.stores.redis.layout import global_key
from attune.stores.redis.records import logged


def partition_key(part: int, name: str) -> str:
    """A key of log partition `part` (its own slot: `{log:<p>}`)."""
    return global_key(f"log:{part}", name)


class FeedEntry(NamedTuple):
    """One delivered event and what acknowledges it."""

    partition: int
    entry_id: bytes
    event: LoggedEvent


class RedisFeed:
    """One consumer of a consumer group reading every partition of the log."""

    def __init__(self, client: Client, partitions: int, group: str, consumer: str) -> None:
        self._r, self.partitions = client, partitions
        self.group, self.consumer = group, consumer
        for p in range(partitions):
            try:
                self._r.xgroup_create(partition_key(p, "events"), group, id="0", mkstream=True)
            except ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise

    def read(self, count: int = 1000) -> list[FeedEntry]:
        """Up to `count` new events from each partition, in seq order per partition (not
        blocking: an empty list when there is nothing new)."""
        out: list[FeedEntry] = []
        for p in range(self.partitions):
            reply = self._r.xreadgroup(
                self.group, self.consumer, {partition_key(p, "events"): ">"}, count=count
            )
            out += self._entries(p, reply[0][1] if reply else [])
        return out

    def ack(self, entries: Sequence[FeedEntry]) -> int:
        """Acknowledge delivered events (the group will not hand them out again)."""
        done = 0
        for p in range(self.partitions):
            ids = [e.entry_id for e in entries if e.partition == p]
            for lo in range(0, len(ids), 1000):
                chunk = ids[lo : lo + 1000]
                done += int(self._r.xack(partition_key(p, "events"), self.group, *chunk))
        return done

    def claim_stale(self, idle_ms: int, count: int = 1000) -> list[FeedEntry]:
        """Events delivered to some consumer and not acknowledged for `idle_ms`: taken over by
        this one (after a consumer died); every page of each partition's pending list."""
        out: list[FeedEntry] = []
        for p in range(self.partitions):
            start: bytes | str = "0-0"
            while True:
                reply = self._r.xautoclaim(
                    partition_key(p, "events"),
                    self.group,
                    self.consumer,
                    idle_ms,
                    start_id=start,
                    count=count,
                )
                out += self._entries(p, reply[1])
                start = reply[0]
                if start in (b"0-0", "0-0"):
                    break
        return out

    def own(self, count: int = 1000) -> list[FeedEntry]:
        """Every event delivered to this consumer and not acknowledged (its pending list), in
        seq order per partition; entries erased since their delivery are acknowledged."""
        out: list[FeedEntry] = []
        for p in range(self.partitions):
            stream, start = partition_key(p, "events"), "0"
            while True:
                reply = self._r.xreadgroup(self.group, self.consumer, {stream: start}, count=count)
                rows = reply[0][1] if reply else []
                gone = [entry_id for entry_id, fields in rows if not fields]
                if gone:
                    self._r.xack(stream, self.group, *gone)
                out += self._entries(p, rows)
                if len(rows) < count:
                    break
                start = rows[-1][0]
        return out

    def forget_idle_consumers(self, idle_ms: int) -> int:
        """Drop the group's other consumers that hold nothing and were idle for `idle_ms`
        (one per learner process that ever ran); returns how many."""
        dropped = 0
        for p in range(self.partitions):
            stream = partition_key(p, "events")
            for info in self._r.xinfo_consumers(stream, self.group):
                name = info["name"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                if name != self.consumer and not info["pending"] and info["idle"] >= idle_ms:
                    self._r.xgroup_delconsumer(stream, self.group, name)
                    dropped += 1
        return dropped

    def _entries(self, part: int, rows: list[tuple[bytes, dict[bytes, bytes]]]) -> list[FeedEntry]:
        return [
            FeedEntry(part, entry_id, logged(int(entry_id.split(b"-")[0]), fields[b"e"]))
            for entry_id, fields in rows
            if fields  # an entry deleted (erasure) after delivery comes back empty
        ]
