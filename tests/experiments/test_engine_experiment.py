"""An online A/B test in the engine: stable arms, each list ranked by its arm's model and
tagged with its arm, the challenger's index kept in step with the catalogue, and erasure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from attune.data.dataset import Dataset
from attune.data.events import ItemUpdate
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, assign_arm, load_model
from attune.schemas.experiments import Experiment
from attune.stores import open_storage
from tests.engine.conftest import make_engine_files

USERS = [f"u{i}" for i in range(0, 480, 3)]


def experiment(share: float = 0.5, exp_id: str = "a1b2c3") -> Experiment:
    return Experiment(id=exp_id, control=1, challenger=2, share=share, started=datetime.now(UTC))


@pytest.fixture
def engines(
    trained: tuple[Dataset, Path], trained_pair: tuple[Dataset, Path], tmp_path: Path
) -> Iterator[tuple[Engine, Engine]]:
    """(an engine serving v1 with v2 as challenger, an engine serving v2 alone) over copies
    of one database."""
    data, one = trained
    db, _ = make_engine_files(data, one, tmp_path / "a")
    db2, _ = make_engine_files(data, one, tmp_path / "b")
    config = EngineConfig(snapshot_every=0)
    tested = Engine(open_storage(db), load_model(one, 1), config)
    tested.start_experiment(experiment(), load_model(trained_pair[1], 2))
    plain = Engine(open_storage(db2), load_model(trained_pair[1], 2), config)
    yield tested, plain
    tested.close()
    plain.close()


def test_assignment_is_stable_salted_and_honours_the_share() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    arms = [assign_arm("e1", u, 0.2) for u in users]
    assert arms == [assign_arm("e1", u, 0.2) for u in users]  # the same user, the same arm
    share = arms.count("challenger") / len(users)
    assert abs(share - 0.2) < 4 * (0.2 * 0.8 / len(users)) ** 0.5  # within 4 sigma
    other = [assign_arm("e2", u, 0.2) for u in users]  # a new experiment re-draws
    assert sum(a != b for a, b in zip(arms, other, strict=True)) > 0.2 * len(users)
    assert {assign_arm("e1", u, 0.0) for u in users[:500]} == {"control"}
    assert {assign_arm("e1", u, 1.0) for u in users[:500]} == {"challenger"}


def test_each_arm_is_ranked_by_its_model_and_tagged(engines: tuple[Engine, Engine]) -> None:
    tested, plain = engines
    arms = set()
    for user in USERS:
        recs = tested.recommend(user, 10, explore=0.0, now=1e9)
        arm = assign_arm("a1b2c3", user, 0.5)
        arms.add(arm)
        assert (recs.experiment, recs.arm) == ("a1b2c3", arm)
        again = tested.recommend(user, 10, explore=0.0, now=1e9)
        assert again.arm == arm and [r.item_id for r in again.items] == [
            r.item_id for r in recs.items
        ]
        if arm == "challenger":
            alone = plain.recommend(user, 10, explore=0.0, now=1e9)
            assert recs.model_version == 2 and recs.source == "model"
            assert [r.item_id for r in recs.items] == [r.item_id for r in alone.items]
        else:
            assert recs.model_version == 1
    assert arms == {"control", "challenger"}
    tally = tested.feedback.tally()
    lists = {arm: tally.arms[("a1b2c3", arm)].lists for arm in ("control", "challenger")}
    assert sum(lists.values()) == 2 * len(USERS)
    assert plain.recommend(USERS[0], 5).arm is None  # no test: no tag


def test_a_challenger_arm_user_the_challenger_cannot_read_is_not_served_by_the_control(
    engines: tuple[Engine, Engine],
) -> None:
    tested, _ = engines
    user = next(
        f"newcomer-{k}"
        for k in range(100)
        if assign_arm("a1b2c3", f"newcomer-{k}", 0.5) == "challenger"
    )
    recs = tested.recommend(user, 5, explore=0.0)
    assert (recs.arm, recs.model_version, recs.source) == ("challenger", 2, "popularity")


def test_new_items_reach_the_challenger_index(engines: tuple[Engine, Engine]) -> None:
    tested, _ = engines
    tested.upsert_items([ItemUpdate(item_id="fresh", attributes={"genre": "g0"})])
    assert tested.items.challenger is not None
    model, index = tested.items.challenger
    fresh = np.array([tested.store.items.index("fresh")])
    assert bool(index.contains(fresh)[0])
    want = model.item_vectors(fresh, tested.items.catalogue.attributes)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(index.vectors(fresh), want, atol=1e-5)


def test_stop_and_erasure(engines: tuple[Engine, Engine]) -> None:
    tested, _ = engines
    user = next(u for u in USERS if assign_arm("a1b2c3", u, 0.5) == "challenger")
    tested.recommend(user, 5)
    challenger = tested._ctx.challenger
    assert challenger is not None and challenger._vectors
    idx = tested.store.users.index(user)
    tested.forget_user(user)
    assert idx not in challenger._vectors
    tested.stop_experiment()
    assert tested.experiment is None and tested.items.challenger is None
    assert tested.recommend(USERS[1], 5).arm is None


def test_an_experiment_must_match_the_served_versions(
    trained: tuple[Dataset, Path], trained_pair: tuple[Dataset, Path], tmp_path: Path
) -> None:
    data, one = trained
    db, _ = make_engine_files(data, one, tmp_path)
    engine = Engine(open_storage(db), load_model(one, 3), EngineConfig(snapshot_every=0))
    try:
        with pytest.raises(ValueError, match="control is version 1"):
            engine.start_experiment(experiment(), load_model(trained_pair[1], 2))
    finally:
        engine.close()
