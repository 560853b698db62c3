"""`attune data trim` on a partitioned Redis log (one server and a 3-node cluster): each
partition is trimmed only below the learning group's oldest unacknowledged or undelivered
event, the retention age and the states' snapshot position, and the learner still takes every
event it had not acknowledged; on SQLite the command refuses."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app
from attune.data.events import Interaction
from attune.ports import LEARN_GROUP, LoggedEvent, Storage
from attune.stores import open_storage
from tests.stores.contracts.records import at
from tests.stores.redis_server import (  # noqa: F401 (fixtures)
    redis_cluster_service,
    redis_service,
    redis_url,
)

DAY = 86_400.0
runner = CliRunner()


def _log(storage: Storage, n: int, age_days: float) -> list[LoggedEvent]:
    """`n` events of users u0..u3 (both partitions), `age_days` old."""
    t = time.time() - age_days * DAY
    return storage.events.append_events(
        [Interaction(user_id=f"u{k % 4}", item_id=f"i{k}", timestamp=at(t + k)) for k in range(n)]
    )


def _cursor(events: list[LoggedEvent]) -> list[int]:
    out = [0, 0]
    for e in events:
        out[e.seq % 2] = max(out[e.seq % 2], e.seq)
    return out


def _trim(url: str, keep: str = "30d") -> str:
    result = runner.invoke(app, ["data", "trim", "--store", url, "--keep", keep])
    assert result.exit_code == 0, result.output
    return result.output


def test_trim_stops_at_every_bound_and_the_learner_misses_nothing(redis_url: str) -> None:  # noqa: F811
    url = f"{redis_url}{'&' if '?' in redis_url else '?'}partitions=2"
    with open_storage(url) as store:
        old = _log(store, 12, age_days=40)
        assert "learning group attune-learn does not exist" in _trim(url)
        feed = store.learning_feed(LEARN_GROUP, "learner")
        assert len(feed.take([0, 0])) == 12
        out = _trim(url)  # delivered, none acknowledged
        assert "trimmed 0 events in all" in out and "oldest unacknowledged event" in out
        feed.acknowledge(_cursor(old[:8]))  # a current version accounts for the first 8
        out = _trim(url)  # but no server has reported them folded into the states
        assert "trimmed 0 events in all" in out and "state snapshot position" in out, out
        store.states.save_snapshot(store.events.last_seq())
        assert "trimmed 8 events in all" in _trim(url) and store.events.count() == 4
        recent = _log(store, 6, age_days=1)
        store.states.save_snapshot(store.events.last_seq())
        feed.acknowledge(_cursor(old))  # every old one learned; the recent ones not taken
        out = _trim(url)
        assert "trimmed 4 events in all" in out and "first undelivered event" in out, out
        later = feed.take(_cursor(old))
        assert [e.seq for e in later] == sorted(e.seq for e in recent)  # none missed
        feed.acknowledge(_cursor(old + recent))
        out = _trim(url)
        assert "trimmed 0 events in all" in out and "limit: age" in out, out
        assert store.events.count() == 6


def test_trim_refuses_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with open_storage(db) as store:
        _log(store, 3, age_days=100)
    result = runner.invoke(app, ["data", "trim", "--store", str(db), "--keep", "1d"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "works on a Redis store only" in result.output
    with open_storage(db) as store:
        assert store.events.count() == 3


def test_trim_and_the_learner_name_one_group() -> None:
    """The CLI writes the group out (its module loads no store): it must be the learner's."""
    from attune.cli import retention

    assert retention.LEARN_GROUP == LEARN_GROUP
    assert retention.parse_age("30d") == 30 * DAY and retention.parse_age("90m") == 5400.0
