"""`attune serve` on what `attune train` makes by default: a pair of models (`model.members=2`).

The engine's side of an ensemble is in tests/engine/test_ensemble.py; this drives the whole
service the way a client would after training with the defaults."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from attune.client import Client, Interaction
from attune.data.dataset import Dataset
from attune.training.checkpoint import is_ensemble
from tests.engine.conftest import cluster_of
from tests.server.conftest import STOPPED, Server, make_db, make_keys


def test_a_served_pair_reacts_to_events_explains_and_reports(
    trained_pair: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained_pair, tmp_path)
    assert is_ensemble(model)
    keys = make_keys(db)
    server = Server(db, model).start()
    try:
        client = Client(server.url, api_key=keys.admin)
        before = client.recommend("u1", k=8)
        assert before.source == "model" and len(before.items) == 8
        now = time.time()
        client.ingest(
            [
                Interaction(user_id="u1", item_id=f"c3-{j}", event_type="purchase",
                            timestamp=now - 60 + j)
                for j in range(5)
            ]
        )  # fmt: skip
        after = client.recommend("u1", k=8)
        clusters = Counter(cluster_of(r.item_id) for r in after.items if r.item_id[0] == "c")
        assert clusters.most_common(1)[0][0] == 3
        top = after.items[0].reason
        assert top.kind == "similar" and top.influences[0].item_id.startswith("c3-")
        assert client.explain("u1", "c3-7").reason.influences
        assert client.ready().users >= 480
        stats = client.stats()
        assert (stats.model_version, stats.events) == (before.model_version, 5760 + 5)
    finally:
        assert server.stop() in STOPPED, server.output
