"""A server on a model registry: follows promotions and rollbacks without failing a request,
refuses a broken version and keeps serving, lists the versions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.client import Client
from attune.data.dataset import Dataset
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import DataWindow, ModelRegistry
from attune.stores import open_storage
from tests.learning.test_finetune import _log_new_events
from tests.server.conftest import STOPPED, Server, make_db, wait_for


def test_server_follows_the_registry(trained: tuple[Dataset, Path], tmp_path: Path) -> None:
    db, model = make_db(trained, tmp_path)
    _log_new_events(db)
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq() - 360, events=5760)
    root = tmp_path / "registry"
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "init", "--registry", str(root), "--from", str(model)])
    assert result.exit_code == 0, result.output
    registry = ModelRegistry(root)
    registry.add(  # v1 learned everything but the newest 360 events
        registry.path(1), parent=None, status="published", data_window=window, metrics={},
        note="v1 with a shorter window", copy=True,
    )  # fmt: skip
    registry.promote(2)
    server = Server(db, root, env={"ATTUNE_MODEL_POLL_S": "0.1"}).start()
    try:
        client = Client(server.url)
        assert client.ready().model_version == 2
        with open_storage(db) as store:
            tuned = fine_tune(store, registry, FineTuneConfig(min_events=50, tolerance=1.0))
        assert tuned.version == 3

        failures: list[str] = []
        versions: set[int] = set()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                n = 0
                while not stop.is_set():
                    n += 1
                    r = http.get(f"/v1/users/u{n % 480}/recommendations", params={"k": 5})
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text}")
                    else:
                        versions.add(r.json()["model_version"])

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            # fine_tune promoted v3: the server swaps to it by itself.
            assert wait_for(lambda: client.ready().model_version == 3), server.output
            time.sleep(0.3)
            result = runner.invoke(cli, ["models", "rollback", "--registry", str(root)])
            assert result.exit_code == 0 and "version 2 is current" in result.output
            assert wait_for(lambda: client.ready().model_version == 2), server.output
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
        assert not failures, failures[:3]
        assert {2, 3} <= versions

        listed = httpx.get(f"{server.url}/v1/models").json()
        assert listed["current"] == 2 and listed["serving"] == 2
        assert [v["version"] for v in listed["versions"]] == [1, 2, 3]
        assert (
            listed["versions"][2]["parent"] == 2 and "ndcg@10" in listed["versions"][2]["metrics"]
        )

        # A version damaged on disk after it was promoted: refused, the current one serves on.
        registry.promote(3)
        (registry.path(3) / "model.pt").write_bytes(b"damaged")
        time.sleep(1.0)
        assert client.ready().model_version == 2
        assert client.recommend("u1", k=3).model_version == 2
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "attune_model_load_failures_total 1.0" in metrics
        assert "model version refused" in server.output
    finally:
        assert server.stop() in STOPPED, server.output


def test_models_endpoint_is_404_on_a_single_checkpoint(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    server = Server(db, model).start()
    try:
        r = httpx.get(f"{server.url}/v1/models")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    finally:
        assert server.stop() in STOPPED, server.output
