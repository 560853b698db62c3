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
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")
SKIP_REASON = "redis-server is not installed (make test installs it as root: apt-get)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(folder: Path, port: int | None = None, *, kill: bool = False) -> Iterator[str]:
    """Run one Redis in `folder` (on `port`, or a free one); yields its URL
    (`redis://127.0.0.1:<port>/0`). `kill`: stop it with SIGKILL, as a crash would."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    import redis

    port = port or _free_port()
    folder.mkdir(parents=True, exist_ok=True)
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
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
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        if kill:
            proc.kill()
        else:
            proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Redis for the session (starting one per test would cost more than the tests)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_service: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    with redis.Redis.from_url(redis_service) as client:
        client.flushall()
    return redis_service
