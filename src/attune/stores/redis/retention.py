"""Trimming the log's partition streams behind everything that still needs their events.

Per partition, `XTRIM attune:{log:<p>}:events MINID <seq>-0` (one slot per command) with `seq`
the lowest of three bounds, each the first seq that must stay:

- age: the first entry whose event time is not older than the cutoff (entries after it stay
  even if older: trimming only ever removes a prefix);
- the learning group: its oldest entry pending (delivered, not acknowledged) or, with none
  pending, the first one it has not delivered; no group at all keeps everything (nothing was
  learned yet);
- the states' snapshot position (`{log}:applied`) plus one: what a server reported folded.

The bounds only move forward while trimming runs (deliveries, acknowledgements and folds
never go back), so reading them before the `XTRIM` is safe.
"""

from __future__ import annotations

import math

from redis.exceptions import ResponseError

from attune.ports import PartitionTrim
from attune.stores.redis.connection import Client
from attune.stores.redis.feed import partition_key
from attune.stores.redis.records import logged

_PAGE = 1000


def trim_partition(
    client: Client, part: int, older_than: float, group: str, applied: int
) -> PartitionTrim:
    """Trim partition `part` within every bound; what it did and which bound stopped it."""
    stream = partition_key(part, "events")
    bounds = {
        "age": _first_recent(client, stream, older_than),
        **_group_bound(client, stream, group),
        "state snapshot position": applied + 1,
    }
    minid = min(bounds.values())
    trimmed = 0
    if math.isfinite(minid):
        trimmed = int(client.xtrim(stream, minid=f"{int(minid)}-0", approximate=False))
    first = client.xrange(stream, count=1)
    if not first:
        return PartitionTrim(part, trimmed, None, "end of the log")
    kept_from = int(first[0][0].split(b"-")[0])
    # Every bound that alone would have stopped at the first event kept (or before it).
    limit = "; ".join(name for name, bound in bounds.items() if bound <= kept_from)
    return PartitionTrim(part, trimmed, kept_from, limit)


def _first_recent(client: Client, stream: str, older_than: float) -> float:
    """The seq of the first entry whose event is not older than `older_than` (inf: none)."""
    start = "-"
    while True:
        page = client.xrange(stream, min=start, max="+", count=_PAGE)
        for entry_id, fields in page:
            seq = int(entry_id.split(b"-")[0])
            if logged(seq, fields[b"e"]).timestamp >= older_than:
                return seq
        if len(page) < _PAGE:
            return math.inf
        start = f"({page[-1][0].decode()}"


def _group_bound(client: Client, stream: str, group: str) -> dict[str, float]:
    """The learning group's bound, named: its oldest pending entry, else the first entry it
    has not delivered; 0 (keep all) when the group does not exist."""
    try:
        groups = client.xinfo_groups(stream)
    except ResponseError:  # no stream: nothing to trim
        return {f"learning group {group} does not exist": 0}
    info = next((g for g in groups if _text(g["name"]) == group), None)
    if info is None:
        return {f"learning group {group} does not exist": 0}
    if int(info["pending"]):
        oldest = client.xpending(stream, group)["min"]
        return {f"learning group {group}: oldest unacknowledged event": _seq(oldest)}
    delivered = _seq(info["last-delivered-id"])
    return {f"learning group {group}: first undelivered event": delivered + 1}


def _seq(entry_id: bytes | str) -> int:
    return int(_text(entry_id).split("-")[0])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
