"""The engine logs every served list and joins the events that name it."""

from __future__ import annotations

from pathlib import Path

from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.feedback import FeedbackConfig, FeedbackSummary, tally_of
from attune.stores import open_storage
from tests.feedback.scenario import T, make_store, play


def _open(files: tuple[Path, Path], **feedback: object) -> Engine:
    db, model = files
    config = EngineConfig(feedback=FeedbackConfig(**feedback))  # type: ignore[arg-type]
    return Engine.open(db, model, config)


def _click(user: str, item: str, rid: str, kind: str = "click") -> Interaction:
    return Interaction(user_id=user, item_id=item, event_type=kind, recommendation_id=rid)


def _reason(summary: FeedbackSummary, version: int, reason: str) -> tuple[int, int, int]:
    for r in summary.by_reason:
        if (r.model_version, r.reason) == (version, reason):
            return r.items, r.clicks, r.conversions
    return 0, 0, 0


def test_served_lists_join_clicks_and_survive_a_reopen(engine_files: tuple[Path, Path]) -> None:
    engine = _open(engine_files, flush_seconds=3600.0)
    recs = engine.recommend("u1", k=5)
    assert engine.feedback.pending() == 1  # buffered: the list paid no commit
    first, second = recs.items[0], recs.items[1]
    result = engine.ingest(
        [
            _click("u1", first.item_id, recs.recommendation_id),
            _click("u1", first.item_id, recs.recommendation_id),  # once only
            _click("u2", second.item_id, recs.recommendation_id),  # not u2's list
            _click("u1", "c0-0", "no-such-list"),
        ]
    )
    assert result.accepted == 4  # attribution never rejects an event
    before = engine.feedback.summary()
    (version,) = before.by_version
    assert (version.model_version, version.lists, version.items) == (recs.model_version, 1, 5)
    assert (version.clicks, version.conversions, before.unattributed) == (1, 0, 2)
    assert _reason(before, recs.model_version, first.reason.kind)[1] == 1
    engine.close()

    with open_storage(engine_files[0]) as store:
        assert store.impressions.count(store.users.index("u1")) == 1
    again = _open(engine_files)
    assert again.feedback.summary() == before
    # After the restart the list is read back: a repeated click still counts once, a purchase
    # of the second item counts as its click and conversion.
    again.ingest(
        [
            _click("u1", first.item_id, recs.recommendation_id),
            _click("u1", second.item_id, recs.recommendation_id, "purchase"),
        ]
    )
    after = again.feedback.summary().by_version[0]
    assert (after.clicks, after.conversions) == (2, 1)
    online = again.feedback.tally()
    again.close()
    with open_storage(engine_files[0]) as store:
        impressions = store.impressions
        assert tally_of(impressions.report(again.feedback.outcomes)) == online


def test_erasure_removes_the_users_impressions(engine_files: tuple[Path, Path]) -> None:
    engine = _open(engine_files, flush_seconds=3600.0)
    for _ in range(2):
        engine.recommend("u7", k=3)
    engine.snapshot()  # written
    engine.recommend("u7", k=3)  # still buffered
    # A user unknown when served owns the list once their first event joins it.
    cold = engine.recommend("newcomer", k=3)
    engine.ingest([_click("newcomer", cold.items[0].item_id, cold.recommendation_id)])
    other = engine.recommend("u8", k=3)
    idx, new_idx = engine.store.users.index("u7"), engine.store.users.index("newcomer")

    assert engine.forget_user("u7")["impressions"] == 3
    assert engine.forget_user("newcomer")["impressions"] == 1
    # The counts are anonymous and stay.
    assert sum(v.lists for v in engine.feedback.summary().by_version) == 5
    engine.close()
    with open_storage(engine_files[0]) as store:
        impressions = store.impressions
        assert (impressions.count(idx), impressions.count(new_idx)) == (0, 0)
        assert impressions.count() == 1
        assert impressions.get(other.recommendation_id) is not None


def test_delete_before_removes_lists_served_before_the_cut(tmp_path: Path) -> None:
    with make_store(tmp_path / "f.db") as store:
        play(store).flush()
        impressions = store.impressions
        assert impressions.delete_before(T) == 0 and impressions.count() == 4
        assert impressions.delete_before(T + 1) == 4 and impressions.count() == 0
        assert impressions.get("R1") is None
