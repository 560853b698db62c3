"""A real `redis-server` for tests: started on a free port in a temporary folder, with the
append-only file on and fsynced on every write, stopped at the end. Nothing is mocked.

Tests that need one skip, saying why, when `redis-server` is not installed (`make test`
installs Debian's when it runs as root).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server")
SKIP_REASON = "redis-server is not installed (make test installs it as root: apt-get)"


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports free now (all held open together while choosing)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


@contextmanager
def redis_server(
    folder: Path, port: int | None = None, *, kill: bool = False, cluster: bool = False
) -> Iterator[str]:
    """Run one Redis in `folder` (on `port`, or a free one); yields its URL
    (`redis://127.0.0.1:<port>/0`). `kill`: stop it with SIGKILL, as a crash would;
    `cluster`: as a Redis Cluster node (no slots yet)."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)

    port = port or _free_ports(1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    if cluster:
        # The cluster bus defaults to port + 10000, which may be taken or past 65535.
        bus = _free_ports(1)[0]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-port", str(bus)]
    log = folder / "redis.log"
    args += ["--logfile", str(log)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{tail}") from None
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        if kill:
            proc.kill()
        else:
            proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def redis_cluster(folder: Path, nodes: int = 3) -> Iterator[str]:
    """Run a Redis Cluster of `nodes` primaries (no replicas), the slots split evenly; yields
    a `redis+cluster://` URL naming its first node."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)

    ports = _free_ports(nodes)
    with ExitStack() as stack:
        for n, port in enumerate(ports):
            node = folder / f"node{n}"
            stack.enter_context(redis_server(node, port, cluster=True))
        clients = [stack.enter_context(redis.Redis(port=p)) for p in ports]
        step = 16384 // nodes
        for n, client in enumerate(clients):
            last = 16383 if n == nodes - 1 else (n + 1) * step - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", n * step, last)
            if n:
                bus = clients[0].config_get("cluster-port")["cluster-port"]
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0], bus)
        deadline = time.monotonic() + 20
        while not all(_cluster_ready(c, nodes) for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not form")
            time.sleep(0.05)
        yield f"redis+cluster://127.0.0.1:{ports[0]}"


def _cluster_ready(client: Any, nodes: int) -> bool:
    info = client.cluster("info")
    return info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == nodes


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Redis for the session (starting one per test would cost more than the tests)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One 3-node Redis Cluster for the session."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


REDIS_KINDS = ("redis", "redis-cluster")
"""One Redis and a 3-node Redis Cluster: the Redis backend's params in a backend list."""


def fresh_redis_url(request: pytest.FixtureRequest, kind: str) -> str:
    """The session's Redis of `kind` (one of `REDIS_KINDS`), emptied; for a test or fixture
    whose params name backends (the module must import `redis_service` and
    `redis_cluster_service`)."""
    from redis.cluster import RedisCluster

    if kind == "redis":
        url = str(request.getfixturevalue("redis_service"))
        with redis.Redis.from_url(url) as client:
            client.flushall()
        return url
    url = str(request.getfixturevalue("redis_cluster_service"))
    with RedisCluster.from_url(url.replace("redis+cluster://", "redis://")) as cluster:
        cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
    return url


@pytest.fixture(params=REDIS_KINDS)
def redis_url(request: pytest.FixtureRequest) -> str:
    """A Redis (one server, then a 3-node cluster), emptied for this test."""
    return fresh_redis_url(request, request.param)
