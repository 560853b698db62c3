"""The per-request timeout and graceful shutdown (issue 18, item 7): a request past
`request_timeout_s` gets a 503 problem with `Retry-After`, and a request in flight when the
server is told to stop is answered and kept."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.offload import ThreadPool
from attune.stores import open_storage
from tests.server.conftest import STOPPED, Server, make_db
from tests.server.test_rate_limits import problem, serve_in_process, settings_for


def test_a_request_past_its_timeout_gets_503_with_retry_after(
    trained: tuple[Dataset, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings_for(trained, tmp_path, request_timeout_s=0.2))
    released = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        released.wait(5.0)
        raise AssertionError("nobody awaits this answer")

    async def body(client: Callable[..., httpx.AsyncClient]) -> None:
        async with client() as c:
            assert (await c.get("/v1/users/u1/recommendations")).status_code == 200
            monkeypatch.setattr(app.state.engine, "recommend", stuck)
            start = time.perf_counter()
            r = await c.get("/v1/users/u1/recommendations")
            assert time.perf_counter() - start < 2.0
            problem(r, 503)
            assert r.headers["retry-after"] == "1"
            released.set()
            assert (await c.get("/healthz")).status_code == 200  # the server goes on
            assert "attune_request_timeouts_total 1.0" in (await c.get("/metrics")).text

    serve_in_process(app, body)


def test_a_queued_engine_call_whose_request_gave_up_is_skipped() -> None:
    pool = ThreadPool(1)
    release, ran = threading.Event(), []

    async def run() -> None:
        first = pool.run(lambda: release.wait(5.0))
        second = pool.run(lambda: ran.append("second"))
        second.cancel()  # its request timed out while the first call held the thread
        release.set()
        await first
        await pool.run(lambda: None)  # the queue has moved past the second

    asyncio.run(run())
    pool.close()
    assert ran == []


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _refusing(host: str, port: int, within_s: float) -> bool:
    """Whether the server stops accepting connections (its shutdown began) within the time."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_request_in_flight_at_sigterm_is_answered_and_kept(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """The request is inside the app (reading its body: `100 Continue` says so) when SIGTERM
    arrives; its body comes after the server has stopped listening."""
    db, model = make_db(trained, tmp_path)
    with open_storage(db) as store:
        before = store.events.count()
    server = Server(db, model).start()
    host, port = server.url.removeprefix("http://").split(":")
    event = json.dumps({"user_id": "term", "item_id": "c1-1", "event_type": "click"}).encode()
    try:
        with socket.create_connection((host, int(port)), timeout=20.0) as sock:
            sock.sendall(
                b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(event)
            )
            assert b"100 Continue" in _read_until(sock, b"\r\n\r\n")
            server.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            assert _refusing(host, int(port), within_s=10.0), server.output
            time.sleep(0.5)  # past uvicorn's own 0.1 s pause: into `graceful_shutdown_s`
            sock.sendall(event)
            answer = _read_until(sock, b"last_seq")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer
        assert json.loads(body)["accepted"] == 1
    finally:
        assert server.stop() in STOPPED, server.output
    assert "stopped" in server.output  # the lifespan closed the engine: snapshot written
    with open_storage(db) as store:
        assert store.events.count() == before + 1
