"""Impressions join to clicks and conversions correctly, online and in the SQL report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from attune.feedback import FeedbackConfig, FeedbackLog, tally_of
from tests.feedback.scenario import EXPECTED, event, make_store, play

# The join reads lists from memory; with nothing kept in memory and every list written at
# once it reads them back from the database, replaying what was joined before.
CONFIGS = {
    "in-memory": FeedbackConfig(),
    "from-database": FeedbackConfig(recent_lists=0, flush_lists=1, flush_seconds=0.0),
}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("one_by_one", [False, True], ids=["batch", "one-by-one"])
def test_impressions_join_to_clicks_correctly(tmp_path: Path, name: str, one_by_one: bool) -> None:
    with make_store(tmp_path / "f.db") as store:
        log = play(store, CONFIGS[name], one_by_one=one_by_one)
        assert log.summary().model_dump() == EXPECTED


@pytest.mark.parametrize("name", CONFIGS)
def test_online_counts_equal_the_sql_report(tmp_path: Path, name: str) -> None:
    with make_store(tmp_path / "f.db") as store:
        log = play(store, CONFIGS[name])
        log.flush()
        report = tally_of(store.impressions.report(log.outcomes))
        assert report == log.tally()
        assert report.summary().model_dump() == EXPECTED
        # The list of the user unknown when served now belongs to its first clicker.
        assert store.impressions.count(store.users.index("c")) == 1


def test_counts_and_dedupe_survive_a_reopen(tmp_path: Path) -> None:
    with make_store(tmp_path / "f.db") as store:
        play(store).flush()
    with make_store(tmp_path / "f.db") as store:
        log = FeedbackLog(store.impressions, store.event_types(), FeedbackConfig())
        assert log.summary().model_dump() == EXPECTED
        # i0 of R1 was clicked and bought before the restart; i1 only viewed.
        again = [event("a", "i0", "R1"), event("a", "i0", "R1", "purchase")]
        log.observe(store.events.append_events([*again, event("a", "i1", "R1", "purchase")]))
        similar = {(r.model_version, r.reason): r for r in log.summary().by_reason}[(1, "similar")]
        assert (similar.clicks, similar.conversions) == (2, 2)
        log.flush()
        assert tally_of(store.impressions.report(log.outcomes)) == log.tally()


def test_click_definition_is_configurable(tmp_path: Path) -> None:
    config = FeedbackConfig(click_types=("click",), conversion_types=("purchase", "add_to_cart"))
    with make_store(tmp_path / "f.db") as store:
        log = play(store, config)
        by_version = {v.model_version: v for v in log.summary().by_version}
        # Only explicit clicks now: i0 of R1 (1), i5 of R3 (1); purchases stay conversions.
        assert (by_version[1].clicks, by_version[1].conversions) == (2, 2)
        assert (by_version[2].clicks, by_version[2].conversions) == (0, 1)
        log.flush()
        assert tally_of(store.impressions.report(log.outcomes)) == log.tally()
        assert FeedbackConfig.model_validate(store.impressions.definition()) == config


def test_impressions_are_written_in_batches(tmp_path: Path) -> None:
    config = FeedbackConfig(flush_lists=3, flush_seconds=3600.0)
    with make_store(tmp_path / "f.db") as store:
        table = store.impressions
        log = FeedbackLog(table, store.event_types(), config)
        for n in range(2):
            log.record(f"L{n}", 0, time.time(), 1, "model", [0, 1], ["similar", "popular"])
        assert (table.count(), log.pending()) == (0, 2)  # no commit per list
        log.record("L2", 0, time.time(), 1, "model", [2], ["similar"])
        assert (table.count(), log.pending()) == (3, 0)

        timed = FeedbackLog(table, store.event_types(), FeedbackConfig(flush_seconds=0.05))
        timed.record("L3", 0, time.time(), 1, "model", [0], ["similar"])
        assert table.count() == 3
        time.sleep(0.06)
        timed.observe([])  # any later call writes a buffer that has waited long enough
        assert table.count() == 4
        assert table.get("L3") is not None and table.get("L3").items == (0,)  # type: ignore[union-attr]


def test_forget_drops_unwritten_lists_of_the_user(tmp_path: Path) -> None:
    with make_store(tmp_path / "f.db") as store:
        table = store.impressions
        log = FeedbackLog(table, store.event_types(), FeedbackConfig(flush_seconds=3600.0))
        a, b = store.users.index("a"), store.users.index("b")
        log.record("A1", a, T0 := time.time(), 1, "model", [0], ["similar"])
        log.flush()
        log.record("A2", a, T0, 1, "model", [1], ["similar"])
        log.record("B1", b, T0, 1, "model", [1], ["similar"])
        assert log.forget(a) == 1
        removed = store.erase_user("a")
        log.flush()
        assert removed["impressions"] == 1
        assert (table.count(a), table.count(b)) == (0, 1)
        # A click on the erased user's list no longer finds it.
        logged = store.events.append_events([event("b", "i0", "A1")])
        log.observe(logged)
        assert log.tally().unattributed == 1
