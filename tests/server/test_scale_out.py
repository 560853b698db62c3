"""Several `attune serve` processes over one Redis (real processes, a real redis-server,
started by `scripts/run-scaled.sh`): an event sent to one server changes the next list of the
other, both give the same lists, a catalogue change reaches the other within the stated bound,
a promotion reaches both under load with no failed request, `--workers 2` serves, and SQLite
refuses more than one worker.

One deployment is shared by the module (each test uses its own users); the script is stopped
at the end and must stop everything cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.learning.registry import ModelRegistry
from attune.stores import open_storage
from tests.engine.conftest import cluster_of
from tests.server.conftest import STOPPED, Server, wait_for
from tests.stores.redis_server import REDIS_SERVER, SKIP_REASON, _free_ports

POLL_S = 0.2
"""The servers' model and store poll interval here (the bound a change reaches them in)."""


SCRIPT = Path(__file__).parents[2] / "scripts" / "run-scaled.sh"


@dataclass
class Endpoint:
    url: str


@dataclass
class Deployment:
    store: str
    registry: Path
    a: Endpoint
    b: Endpoint


@pytest.fixture(scope="module")
def deployment(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """`scripts/run-scaled.sh`: Redis, the clustered events imported from a CSV file, two
    servers and the learning job; the registry gets a v2 (a copy of v1) to promote. Stopped
    at the end: the script must stop everything and exit 0."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    data, model = trained
    folder = tmp_path_factory.mktemp("scaled")
    csv = folder / "events.csv"
    inter = data.interactions
    rows = zip(inter.users.tolist(), inter.items.tolist(), inter.timestamps.tolist(), strict=True)
    csv.write_text(
        "user_id,item_id,timestamp\n"
        + "".join(f"{data.users.ids[u]},{data.items.ids[i]},{t}\n" for u, i, t in rows)
    )
    redis_port, *ports = _free_ports(3)
    args = ["--model", str(model), "--import", str(csv), "--dir", str(folder / "run")]
    args += ["--ports", ",".join(map(str, ports)), "--redis-port", str(redis_port)]
    env = {
        **os.environ,
        "ATTUNE": str(Path(sys.executable).with_name("attune")),  # this tree's: PYTHONPATH
        "PYTHONPATH": os.pathsep.join(sys.path),
        "ATTUNE_MODEL_POLL_S": str(POLL_S),
        "ATTUNE_STORE_POLL_S": str(POLL_S),
    }
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), *args], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_read, args=(proc, log, ready), daemon=True).start()
    ready.wait(120)
    try:
        assert any("run-scaled: ready" in line for line in log), "".join(log[-40:])
        registry = folder / "run" / "registry"
        reg = ModelRegistry(registry)
        reg.add(
            reg.path(1), parent=1, status="published", data_window=reg.info(1).data_window,
            metrics={}, note="a copy, to promote", copy=True,
        )  # fmt: skip
        a, b = (Endpoint(f"http://127.0.0.1:{p}") for p in ports)
        yield Deployment(f"redis://127.0.0.1:{redis_port}/0", registry, a, b)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(log[-40:])
    assert "run-scaled: stopped" in "".join(log)
    for port in (redis_port, *ports):  # nothing left listening
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, port


def _read(proc: subprocess.Popen[str], log: list[str], ready: threading.Event) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        log.append(line)
        if "run-scaled: ready" in line:
            ready.set()
    ready.set()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _list(server: Server | Endpoint, user: str, k: int = 8) -> list[tuple[str, float]]:
    r = httpx.get(f"{server.url}/v1/users/{user}/recommendations", params={"k": k}, timeout=10)
    assert r.status_code == 200, r.text
    return [(i["item_id"], i["score"]) for i in r.json()["items"]]


def test_an_event_sent_to_one_server_changes_the_next_list_of_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    users = ["u1", "u2", "u77", "somebody-new"]  # known users and a cold one (popularity)
    for user in users:
        _same(_list(a, user), _list(b, user))
    assert Counter(cluster_of(i) for i, _ in _list(b, "u1")).most_common(1)[0][0] == 1
    now = time.time()
    events = [
        {"user_id": "u1", "item_id": f"c3-{j}", "event_type": "purchase", "timestamp": now + j}
        for j in range(5)
    ]
    r = httpx.post(f"{a.url}/v1/events", json=events, timeout=10)
    assert r.status_code == 200 and r.json()["accepted"] == 5, r.text
    after = _list(b, "u1")  # at once: no poll between the write and the read
    assert Counter(cluster_of(i) for i, _ in after).most_common(1)[0][0] == 3
    assert _list(a, "u1") == after
    for user in users:  # popularity counted once, by the server that logged the events
        _same(_list(a, user), _list(b, user))


def _same(one: list[tuple[str, float]], other: list[tuple[str, float]]) -> None:
    """The same items in the same order, with the same scores (popularity scores decay with
    the time of the request: equal to within the milliseconds between the two requests)."""
    assert [i for i, _ in one] == [i for i, _ in other]
    assert [s for _, s in one] == pytest.approx([s for _, s in other], rel=1e-5)


def test_a_catalogue_change_reaches_the_other_server_within_the_poll_interval(
    deployment: Deployment,
) -> None:
    a, b = deployment.a, deployment.b
    top = _list(b, "u5")[0][0]
    body = {"attributes": {"genre": f"g{cluster_of(top)}"}, "blocked": True}
    try:
        r = httpx.put(f"{a.url}/v1/items/{top}", json=body, timeout=10)
        assert r.status_code == 200, r.text
        started = time.monotonic()
        assert top not in dict(_list(a, "u5"))
        assert wait_for(lambda: top not in dict(_list(b, "u5")), timeout=10 * POLL_S + 2)
        assert time.monotonic() - started < POLL_S + 2.0  # the bound, with room for the embed
    finally:
        body["blocked"] = False
        assert httpx.put(f"{a.url}/v1/items/{top}", json=body, timeout=10).status_code == 200
    # An item created on A (with attributes) is ranked on B once its poll has run.
    new = {"attributes": {"genre": "g2", "title": "new in genre g2"}}
    assert httpx.put(f"{a.url}/v1/items/fresh-1", json=new, timeout=10).status_code == 200
    assert wait_for(lambda: _similar(b, "fresh-1") == _similar(a, "fresh-1"), timeout=5)
    assert _similar(b, "fresh-1")


def _similar(server: Endpoint, item: str) -> list[str]:
    r = httpx.get(f"{server.url}/v1/items/{item}/similar", params={"k": 5}, timeout=10)
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def test_a_promotion_reaches_both_servers_under_load_without_a_failed_request(
    deployment: Deployment,
) -> None:
    servers = [deployment.a, deployment.b]
    failures: list[str] = []
    stop = threading.Event()

    def load(server: Endpoint) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                r = http.get(f"/v1/users/u{100 + n % 200}/recommendations", params={"k": 5})
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text}")

    def versions() -> set[int]:
        return {httpx.get(f"{s.url}/readyz", timeout=10).json()["model_version"] for s in servers}

    threads = [threading.Thread(target=load, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    try:
        store = ["--registry", str(deployment.registry), "--store", deployment.store]
        assert "version 2 is current" in _cli("models", "promote", "2", *store)
        assert wait_for(lambda: versions() == {2}, timeout=20), versions()
        assert "version 1 is current" in _cli("models", "rollback", *store)
        assert wait_for(lambda: versions() == {1}, timeout=20), versions()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    # The pointer lives in Redis: the registry's own file still names the version it had.
    assert ModelRegistry(deployment.registry).current() == 1


def test_two_workers_serve_one_port(deployment: Deployment) -> None:
    env = {"ATTUNE_STORE_POLL_S": str(POLL_S)}
    server = Server(deployment.store, deployment.registry, args=["--workers", "2"], env=env)
    server.start()
    try:
        assert wait_for(lambda: _ready(server), timeout=60), server.output
        event = {"user_id": "u9", "item_id": "c0-1", "event_type": "purchase"}
        r = httpx.post(f"{server.url}/v1/events", json=event, timeout=10)
        assert r.status_code == 200, r.text
        for _ in range(6):  # each request may go to either worker: all see the event
            assert _list(server, "u9") == _list(deployment.a, "u9")
        history = httpx.get(f"{deployment.b.url}/v1/users/u9/history", timeout=10).json()
        assert history["events"][-1]["item_id"] == "c0-1"
    finally:
        assert server.stop() in STOPPED, server.output
    assert server.output.count("serving") >= 2, server.output  # one engine per worker


def _ready(server: Server) -> bool:
    try:
        return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_sqlite_refuses_more_than_one_worker(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    with open_storage(db):
        pass
    model = tmp_path / "model"
    model.mkdir()
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(db), "--model", str(model), "--workers", "2"]
    )
    assert result.exit_code == 2
    assert "workers = 2 needs a shared store" in result.output


def test_keys_live_in_the_store(deployment: Deployment) -> None:
    """`attune keys --store` keeps the keys in Redis (another database number here, so the
    deployment's servers stay without keys)."""
    store = deployment.store.removesuffix("/0") + "/1"
    out = _cli("keys", "create", "--store", store, "--scope", "ingest", "--name", "lb")
    key = out.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert key_id in _cli("keys", "list", "--store", store)
    assert f"revoked {key_id}" in _cli("keys", "revoke", key_id, "--store", store)
    assert key_id not in _cli("keys", "list", "--store", store)
