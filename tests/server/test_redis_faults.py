"""Faults with real processes: two `attune serve` processes over one real `redis-server`.

- Redis killed (SIGKILL): every route that needs the store answers 503 with `Retry-After` at
  once (never a 500, never a hang), with one log line per request; `/healthz` stays 200 and
  `/readyz` is 503 naming the store. Redis started again on the same port and folder (its
  append-only file, fsynced on every write): both servers answer again by themselves, and every
  event acknowledged before, during and after the crash is in the log exactly once.
- Redis stopped (SIGSTOP: connections accepted, nothing answered, as a black-holed host): a
  request gets its 503 within the command timeout, not the request timeout; liveness is not
  held up meanwhile.
- One server killed (SIGKILL) in the middle of an ingest: the client sends the batches that
  server did not acknowledge to the other one (same event ids); the other never fails a
  request, and every acknowledged event is in the log exactly once.

One Redis and two servers are shared by the module; the test that kills a server runs last.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
import redis
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.stores import open_storage
from tests.server.conftest import STOPPED, Server, wait_for
from tests.stores.redis_server import REDIS_SERVER, SKIP_REASON, _free_ports, redis_server

CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 1.0
"""The servers' Redis timeouts here (in the store URL); the defaults are 2 s and 5 s."""
REQUEST_TIMEOUT_S = 6.0
"""The servers' request timeout here: a store that does not answer must be noticed well
within it (by the command timeout), not by it."""
SLACK_S = 1.5
"""Room for a loaded test machine on top of a bound."""

T0 = int(time.time()) - 20_000
"""Event k of a test has timestamp T0 + k: the log tells the events apart by it."""

STORE_ROUTES = [
    ("POST", "/v1/events", {"user_id": "u1", "item_id": "c1-1", "event_type": "view"}),
    ("GET", "/v1/users/u1/recommendations", None),  # a known user: the model's list
    ("GET", "/v1/users/somebody-new/recommendations", None),  # a cold user: popularity
    ("GET", "/v1/users/u1/history", None),
    ("PUT", "/v1/users/u1", {"attributes": {"segment": "s1"}}),
    ("PUT", "/v1/items/c1-1", {"attributes": {"genre": "g1"}}),
    ("GET", "/v1/users", None),  # admin: the directory
    ("GET", "/v1/stats", None),
    ("DELETE", "/v1/users/nobody-at-all", None),  # admin: erasure
]
"""Routes that read or write the store: one of each kind (ingest, recommend, items, users,
admin)."""


@dataclass
class RedisProcess:
    """One `redis-server` on a fixed port and folder, killed and started again at will."""

    folder: Path
    port: int
    stack: ExitStack | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.stack = ExitStack()
        self.stack.enter_context(redis_server(self.folder, self.port, kill=True))

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.stack is not None:
            self.stack.close()
            self.stack = None

    def pid(self) -> int:
        with redis.Redis.from_url(self.url) as client:
            return int(client.info()["process_id"])


@dataclass
class Faults:
    redis: RedisProcess
    a: Server
    b: Server


@pytest.fixture(scope="module")
def faults(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faults]:
    """Redis holding the clustered data, and two servers over it (started side by side)."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    data, model = trained
    folder = tmp_path_factory.mktemp("faults")
    rp = RedisProcess(folder / "redis", _free_ports(1)[0])
    rp.start()
    servers: list[Server] = []
    try:
        with open_storage(rp.url) as store:
            store.import_dataset(replace(data), progress=False)
        query = f"socket_timeout={COMMAND_TIMEOUT_S}&socket_connect_timeout={CONNECT_TIMEOUT_S}"
        env = {"ATTUNE_STORE_POLL_S": "0.2", "ATTUNE_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S)}
        servers = [Server(f"{rp.url}?{query}", model, env=env) for _ in range(2)]
        starting = [threading.Thread(target=s.start, kwargs={"check": False}) for s in servers]
        for t in starting:
            t.start()
        for t in starting:
            t.join()
        a, b = servers
        assert a.url and b.url, a.output[-3000:] + b.output[-3000:]
        yield Faults(rp, a, b)
        assert b.stop() in STOPPED, b.output[-3000:]
    finally:
        for server in servers:  # A was killed by the last test; anything left: killed
            if server.proc is not None and server.proc.poll() is None:
                server.stop(signal.SIGKILL)
        rp.kill()


@dataclass
class Ingest:
    """A client sending batches of events with ids; it remembers what was acknowledged."""

    prefix: str
    users: int = 12
    sent: int = 0
    acked: set[int] = field(default_factory=set)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    """Per server URL, the statuses it answered (0: no answer: refused or reset)."""

    def batch(self, size: int) -> list[int]:
        """The next `size` event numbers."""
        self.sent += size
        return list(range(self.sent - size, self.sent))

    def event(self, k: int) -> dict[str, object]:
        return {
            "user_id": f"{self.prefix}{k % self.users}",
            "item_id": f"c{k % 4}-{k % 15}",
            "event_type": "view",
            "timestamp": T0 + k,
            "event_id": f"{self.prefix}-{k}",
        }

    def send(self, server: Server, batch: list[int]) -> bool:
        """Post `batch` to `server`; True when acknowledged (200)."""
        try:
            r = httpx.post(
                f"{server.url}/v1/events", json=[self.event(k) for k in batch], timeout=30
            )
            status = r.status_code
        except httpx.TransportError:
            status = 0
        self.statuses.setdefault(server.url, Counter())[status] += 1
        if status == 200:
            self.acked.update(batch)
        return status == 200

    def logged(self, store_url: str) -> Counter[int]:
        """How many times each of this client's events is in the log (read through the
        storage port)."""
        with open_storage(store_url) as store:
            users = {store.users.get(f"{self.prefix}{u}") for u in range(self.users)}
            return Counter(
                round(e.timestamp) - T0 for e in store.events.read_events() if e.user in users
            )

    def check_log(self, store_url: str) -> None:
        """Every acknowledged event is in the log exactly once, no event twice."""
        logged = self.logged(store_url)
        assert self.acked, "nothing was acknowledged"
        assert not self.acked - set(logged), sorted(self.acked - set(logged))[:10]
        assert max(logged.values()) == 1, [k for k, n in logged.items() if n > 1][:10]


def _call(server: Server, method: str, path: str, body: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.request(method, server.url + path, json=body, timeout=REQUEST_TIMEOUT_S * 3)
    return r, time.monotonic() - started


def _ready(server: Server) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=REQUEST_TIMEOUT_S).status_code == 200


def _log_lines(server: Server, since: int) -> list[dict[str, object]]:
    """The server's JSON log lines after the first `since` lines."""
    lines = []
    for line in server.log[since:]:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # uvicorn's own lines
    return lines


def _ingest_until(client: Ingest, servers: list[Server], stop: threading.Event) -> None:
    """Batches of 5, round robin; a batch not acknowledged is sent again (to the next server)
    until it is: what a client told "503, retry" does."""
    n = 0
    while not stop.is_set():
        batch = client.batch(5)
        while not client.send(servers[n % len(servers)], batch) and not stop.is_set():
            n += 1
            time.sleep(0.05)
        n += 1


def test_redis_down_answers_503_at_once_and_the_servers_recover_by_themselves(
    faults: Faults,
) -> None:
    a, b = faults.a, faults.b
    client = Ingest("down")
    for n in range(4):  # acknowledged before the crash
        assert client.send((a, b)[n % 2], client.batch(5))
    stop = threading.Event()
    ingesting = threading.Thread(target=_ingest_until, args=(client, [a, b], stop))
    ingesting.start()
    try:
        marks = {s.url: len(s.log) for s in (a, b)}
        time.sleep(0.3)
        faults.redis.kill()  # while batches are on their way
        for server in (a, b):
            for method, path, body in STORE_ROUTES:
                r, took = _call(server, method, path, body)
                assert r.status_code == 503, (method, path, r.status_code, r.text)
                assert r.headers["retry-after"] == "1", (method, path)
                assert r.headers["content-type"] == "application/problem+json"
                assert "store is unreachable" in r.json()["detail"]
                assert took < CONNECT_TIMEOUT_S + SLACK_S, (method, path, took)
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            r, took = _call(server, "GET", "/readyz", None)
            assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
            assert r.json()["store"] == {"kind": "redis", "reachable": False, "latency_ms": None}
            metrics = httpx.get(f"{server.url}/metrics", timeout=5)
            assert metrics.status_code == 200  # the process's own counters, during the outage
            assert "attune_store_unavailable_total" in metrics.text
            lines = _log_lines(server, marks[server.url])
            answered = [x for x in lines if x.get("event") == "store unreachable; answered 503"]
            assert sum(x["path"] == "/v1/users/u1/history" for x in answered) == 1, answered
            assert answered[0]["level"] == "warning" and answered[0]["error"] == "ConnectionError"
            assert not [x for x in lines if x.get("level") == "error"], lines[:5]
            assert "Traceback" not in "".join(server.log[marks[server.url] :])
        down_since = time.monotonic()
        faults.redis.start()  # the same port and folder: it reloads its append-only file
        for server in (a, b):
            assert wait_for(lambda s=server: _ready(s), timeout=5), server.output[-3000:]
        recovered = client.sent
        assert wait_for(lambda: client.sent > recovered + 20, timeout=10)  # ingest goes on
        up = httpx.get(f"{a.url}/metrics", timeout=5).text
        assert "\nattune_user_states NaN\n" in up  # no walk over every key at a scrape
        assert "\nattune_users_known NaN\n" not in up
    finally:
        stop.set()
        ingesting.join()
    assert time.monotonic() - down_since < 15
    for server in (a, b):
        ready = httpx.get(f"{server.url}/readyz", timeout=5).json()
        assert ready["store"]["reachable"] and ready["store"]["latency_ms"] > 0, ready
        for method, path, body in STORE_ROUTES:
            r, _ = _call(server, method, path, body)
            assert r.status_code < 500, (method, path, r.status_code, r.text)
        assert set(client.statuses[server.url]) <= {200, 503}, client.statuses
    client.check_log(faults.redis.url)  # before, during and after the crash: all there, once


def test_a_redis_that_does_not_answer_gives_503_within_the_command_timeout(
    faults: Faults,
) -> None:
    b = faults.b
    pid = faults.redis.pid()
    os.kill(pid, signal.SIGSTOP)  # connections are accepted; nothing is answered
    try:
        answers: list[tuple[httpx.Response, float]] = []
        slow = threading.Thread(
            target=lambda: answers.append(_call(b, "GET", "/v1/users/u3/recommendations", None))
        )
        slow.start()
        time.sleep(0.2)
        started = time.monotonic()  # liveness is not held up by a request waiting on Redis
        assert httpx.get(f"{b.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 0.5 + SLACK_S
        slow.join()
        (r, took), = answers  # fmt: skip
        assert r.status_code == 503 and "store is unreachable" in r.json()["detail"], r.text
        assert took < COMMAND_TIMEOUT_S + SLACK_S < REQUEST_TIMEOUT_S, took
        r, took = _call(b, "GET", "/readyz", None)
        assert r.status_code == 503 and not r.json()["store"]["reachable"], r.text
        assert took < COMMAND_TIMEOUT_S + SLACK_S, took
    finally:
        os.kill(pid, signal.SIGCONT)
    assert wait_for(lambda: _ready(b), timeout=5)
    r, _ = _call(b, "GET", "/v1/users/u3/recommendations", None)
    assert r.status_code == 200, r.text


def test_a_server_started_while_redis_is_down_exits_with_one_line(tmp_path: Path) -> None:
    port = _free_ports(1)[0]  # nothing listens there
    args = ["serve", "--store", f"redis://127.0.0.1:{port}/0", "--model", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "Connection refused" in result.output
    assert "Traceback" not in result.output


def test_a_retry_of_an_event_a_killed_server_left_half_written_is_logged_at_once(
    faults: Faults,
) -> None:
    """A writer died after the per-user script (the event is parked in the user's record and
    state, not in the log yet): the client's retry is acknowledged as a duplicate and finishes
    the write, so the event reaches the log now, not at the next repair on open."""
    b = faults.b
    with open_storage(faults.redis.url) as store:  # a server that dies after step 1
        (user,) = store.users.add_many(["half-written"])
        item = store.items.get("c2-3")
        parked = [(int(user), "half-written-key", f"[{user},{item},0,{T0}.0,null,null,null]")]
        assert store.events.write_pending(parked, ["half-1"]) == parked
        event = {"user_id": "half-written", "item_id": "c2-3", "event_type": "view"}
        event |= {"timestamp": T0, "event_id": "half-1"}
        r = httpx.post(f"{b.url}/v1/events", json=event, timeout=10)  # the client's retry
        assert r.status_code == 200, r.text  # acknowledged ...
        history = httpx.get(f"{b.url}/v1/users/half-written/history", timeout=10)
        assert history.status_code == 200, history.text  # ... so it must be there
        assert [e["item_id"] for e in history.json()["events"]] == ["c2-3"], history.text
        logged = list(store.events.read_events(user=int(user)))  # no repair since the park
        assert [e.item for e in logged] == [item]


def test_sigkill_of_one_server_during_ingest_loses_no_acknowledged_event(
    faults: Faults,
) -> None:
    """Runs last: server A does not come back."""
    a, b = faults.a, faults.b
    client = Ingest("kill")
    pending: list[list[int]] = []  # batches A did not acknowledge
    stop = threading.Event()

    def ingest() -> None:
        n = 0
        while not stop.is_set():
            batch = pending.pop() if pending else client.batch(20)
            alive = a.proc is not None and a.proc.poll() is None
            if not client.send(a if alive and n % 2 == 0 else b, batch):
                pending.append(batch)  # sent again, to B once A is gone, with the same ids
            n += 1

    ingesting = threading.Thread(target=ingest)
    ingesting.start()
    try:
        assert wait_for(lambda: len(client.acked) >= 200, timeout=20)
        a.stop(signal.SIGKILL)  # in the middle of the stream: a batch is usually on its way
        killed_at = client.sent
        assert wait_for(lambda: client.sent >= killed_at + 200, timeout=20)
    finally:
        stop.set()
        ingesting.join()
    for batch in pending:  # what was still to be sent again when the client stopped
        assert client.send(b, batch)
    assert set(client.statuses[b.url]) == {200}, client.statuses  # B never failed a request
    assert 0 in client.statuses[a.url], client.statuses  # A did fail: killed
    assert client.acked == set(range(client.sent))  # every batch acknowledged, by A or B
    client.check_log(faults.redis.url)
    r = httpx.get(f"{b.url}/v1/users/kill3/recommendations", timeout=10)
    assert r.status_code == 200, r.text
