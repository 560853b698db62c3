"""The redis-py client of a storage URL, and running one script for many keys.

    redis://host:port/db, rediss://host:port/db     one Redis (or a primary behind a proxy)
    redis+cluster://host:port, rediss+cluster://…    Redis Cluster, from any one node

`?partitions=P` (Attune's, not redis-py's) sets the number of log partitions of a new
deployment (docs/scaling.md, "The learning feed").

Redis Cluster refuses scripts inside a pipeline (redis-py routes each command by slot, and a
pipelined EVALSHA is blocked), so there the per-user scripts run one after the other; on one
Redis they share a round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

Client: TypeAlias = redis.Redis | RedisCluster
"""What every module of the backend talks to: the commands used are common to both."""


def connect(url: str) -> Client:
    """A client for `url` (`ValueError` for a malformed one)."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("redis+cluster", "rediss+cluster"):
        return RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}{sep}{rest}")
    return redis.Redis.from_url(url)


def log_partitions(url: str) -> tuple[str, int | None]:
    """`url` without its `partitions` option, and the option (None when absent)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [v for k, v in query if k == "partitions"]
    if not found:
        return url, None
    if not found[-1].isdigit():
        raise ValueError(f"partitions must be a positive integer, not {found[-1]!r}")
    rest = urlencode([(k, v) for k, v in query if k != "partitions"])
    return urlunsplit(parts._replace(query=rest)), int(found[-1])


def run_script(
    client: Client, script: Script, calls: Sequence[tuple[list[str], list[Any]]]
) -> list[Any]:
    """`script` once per (keys, args), in order; the replies in the same order."""
    if isinstance(client, RedisCluster):
        return [script(keys=keys, args=args) for keys, args in calls]
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        script(keys=keys, args=args, client=pipe)
    return list(pipe.execute())
