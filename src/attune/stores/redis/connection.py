"""The redis-py client of a storage URL, and running one script for many keys.

    redis://host:port/db, rediss://host:port/db     one Redis (or a primary behind a proxy)
    redis+cluster://host:port, rediss+cluster://…    Redis Cluster, from any one node

`?partitions=P` (Attune's, not redis-py's) sets the number of log partitions of a new
deployment (docs/scaling.md, "The learning feed").

Every call is bounded: connecting waits at most `CONNECT_TIMEOUT_S`, and a command waits at most
`COMMAND_TIMEOUT_S` for each read of its reply, so a Redis that is down, or that stops answering
(a host gone, a black-holed address, a stopped process), raises `ConnectionError` or
`TimeoutError` within those bounds instead of hanging the caller; the server turns both into a
503 (server/unavailable.py). The URL may set others (`?socket_timeout=1&socket_connect_timeout=0.5`,
in seconds). A failed command is not retried here: the caller (a client given a 503) retries,
and the next command opens a fresh connection, so nothing needs restarting when Redis is back.

Redis Cluster refuses scripts inside a pipeline (redis-py routes each command by slot, and a
pipelined EVALSHA is blocked), so there the per-user scripts run one after the other; on one
Redis they share a round trip, in one `MULTI`/`EXEC`: all or nothing, and a command the server
refuses when queued (out of memory) stops the whole batch. Not through redis-py's pipelined
scripts: those ask the server whether every script exists (`SCRIPT EXISTS`) before each
pipeline, a second round trip; here the transaction sends `EVALSHA`s and, should the server
have lost the script, loads it and resends the batch (none of it ran: `EXEC` is atomic, so
the script was missing for every call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError

Client: TypeAlias = redis.Redis | RedisCluster
"""What every module of the backend talks to: the commands used are common to both."""


CONNECT_TIMEOUT_S = 2.0
"""How long opening a connection may take (`socket_connect_timeout` in the URL overrides it)."""

COMMAND_TIMEOUT_S = 5.0
"""How long a command may wait for its reply (`socket_timeout` in the URL overrides it). Every
command of the backend is a short one or a bounded page (bulk writes and reads go in chunks);
this leaves room for a Redis stalled for a moment by a slow disk under `appendfsync always`."""


def connect(url: str) -> Client:
    """A client for `url` (`ValueError` for a malformed one), its calls bounded by the
    timeouts above unless the URL's query names its own."""
    bounds = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": COMMAND_TIMEOUT_S,
    }  # options in the URL's query take precedence over these (redis-py's from_url)
    scheme, sep, rest = url.partition("://")
    if scheme in ("redis+cluster", "rediss+cluster"):
        return RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}{sep}{rest}", **bounds)
    return redis.Redis.from_url(url, **bounds)


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
    client: Client,
    script: Script,
    calls: Sequence[tuple[list[str], list[Any]]],
    *,
    before: Callable[[Any], None] | None = None,
) -> list[Any]:
    """`script` once per (keys, args), in order; the replies in the same order. One round trip
    on one Redis (a second, and a third, only when the server lost the script).

    `before(target)` queues commands that must take effect first (it may run twice, so they
    must be idempotent): on one Redis in the same pipeline, so in the same round trip; on a
    cluster, on `target` = the client, at once."""
    if isinstance(client, RedisCluster) or (len(calls) == 1 and before is None):
        if before is not None:
            before(client)
        return [script(keys=keys, args=args) for keys, args in calls]
    try:
        return _evalsha_pipeline(client, script, calls, before)
    except NoScriptError:  # a restarted Redis, or SCRIPT FLUSH: no script call ran
        client.script_load(script.script)
        return _evalsha_pipeline(client, script, calls, before)


def _evalsha_pipeline(
    client: redis.Redis,
    script: Script,
    calls: Sequence[tuple[list[str], list[Any]]],
    before: Callable[[Any], None] | None,
) -> list[Any]:
    pipe = client.pipeline(transaction=True)
    if before is not None:
        before(pipe)
    first = len(pipe)
    for keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(pipe.execute())[first:]
