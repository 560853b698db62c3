"""Serving an ensemble (`model.members` > 1): one V_u from every member, ranked as their sum."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from attune.data.dataset import Dataset
from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, load_model
from attune.engine.interest import EnsembleInterestModel
from attune.engine.state import UserState
from attune.training.checkpoint import member_dir
from tests.engine.conftest import cluster_of, make_engine_files


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _state(items: list[int]) -> UserState:
    return UserState(items=np.array(items, np.int32), types=np.zeros(len(items), np.int8))


def test_vectors_are_the_members_unit_vectors_side_by_side(
    trained_pair: tuple[Dataset, Path],
) -> None:
    _, out = trained_pair
    model = load_model(out, 1)
    assert isinstance(model, EnsembleInterestModel) and len(model.members) == 2
    vocab = model.loaded.items
    model.bind_items(vocab)
    items = np.arange(len(vocab))
    attrs = model.loaded.item_attributes
    v_items = model.item_vectors(items, attrs)
    parts = [m.item_vectors(items, attrs) for m in model.members]
    assert v_items.shape == (len(items), model.dim) and model.dim == 64
    # One temperature: equal weights, 1/sqrt(2) each.
    np.testing.assert_allclose(
        v_items, np.concatenate([_unit(p) for p in parts], 1) / np.sqrt(2), atol=1e-6
    )
    state = _state([3, 17, 4, 18, 5])
    result = model.user_vectors([state])[0]
    assert result is not None
    vec, expl = result
    alone = [m.user_vectors([state])[0] for m in model.members]
    assert all(a is not None for a in alone)
    np.testing.assert_allclose(
        vec, np.concatenate([_unit(a[0]) for a in alone if a is not None]) / np.sqrt(2), atol=1e-6
    )
    weights = np.mean([a[1].weights for a in alone if a is not None], axis=0)
    np.testing.assert_allclose(expl.weights, weights, atol=1e-6)
    # The index's cosine is the mean of the members' cosines: the summed-score ranking.
    cos = _unit(v_items) @ _unit(vec)
    per_member = [_unit(p) @ _unit(a[0]) for p, a in zip(parts, alone, strict=True) if a]
    np.testing.assert_allclose(cos, np.mean(per_member, axis=0), atol=1e-5)


def test_incremental_step_of_an_ensemble_matches_a_full_recompute(
    trained_pair: tuple[Dataset, Path],
) -> None:
    _, out = trained_pair
    model = load_model(out, 1)
    model.bind_items(model.loaded.items)
    prefix, full = _state([3, 17, 4]), _state([3, 17, 4, 18])
    cache = model.build_cache(prefix)
    assert cache is not None and len(cache.keys) == 4  # two members of two layers each
    step = model.extend_cached(cache, full)
    assert step is not None
    expected = model.user_vectors([full])[0]
    assert expected is not None
    np.testing.assert_allclose(step[0], expected[0], atol=1e-4)
    assert step[1].length == 4
    assert model.extend_cached(None, full) is None


@pytest.mark.parametrize("incremental", [False, True])
def test_the_engine_serves_an_ensemble_that_follows_new_events(
    trained_pair: tuple[Dataset, Path], tmp_path: Path, incremental: bool
) -> None:
    data, out = trained_pair
    db, model_dir = make_engine_files(data, out, tmp_path)
    engine = Engine.open(db, model_dir, EngineConfig(incremental=incremental))
    before = engine.recommend("u1", k=8)  # u1 browses cluster 1
    assert Counter(cluster_of(r.item_id) for r in before.items).most_common(1)[0][0] == 1
    now = time.time()
    engine.ingest(
        [
            Interaction(user_id="u1", item_id=f"c3-{j}", event_type="purchase", timestamp=now + j)
            for j in range(5)
        ]
    )
    after = engine.recommend("u1", k=8)
    assert Counter(cluster_of(r.item_id) for r in after.items).most_common(1)[0][0] == 3
    assert after.items[0].reason.influences
    vec = engine.user_vector("u1")
    assert vec is not None and vec.shape == (64,)
    engine.close()


def test_members_with_different_temperatures_rank_by_their_summed_scores(
    trained_pair: tuple[Dataset, Path],
) -> None:
    _, out = trained_pair
    members = [load_model(member_dir(out, k), 1) for k in range(2)]
    with torch.no_grad():
        members[1].encoder.log_inv_temperature.fill_(float(np.log(1 / 0.2)))
    inv_t = [float(m.encoder.log_inv_temperature.exp()) for m in members]
    assert inv_t[0] != pytest.approx(inv_t[1])
    model = EnsembleInterestModel(members)
    model.bind_items(model.loaded.items)
    items = np.arange(len(model.loaded.items))
    attrs = model.loaded.item_attributes
    state = _state([3, 17, 4, 18, 5])
    result = model.user_vectors([state])[0]
    assert result is not None
    cos = model.item_vectors(items, attrs) @ result[0]
    summed = np.zeros(len(items))
    for m, a in zip(members, inv_t, strict=True):
        alone = m.user_vectors([state])[0]
        assert alone is not None
        summed += a * (_unit(m.item_vectors(items, attrs)) @ _unit(alone[0]))
    np.testing.assert_allclose(cos * sum(inv_t), summed, rtol=1e-4, atol=1e-4)


def test_a_full_window_that_dropped_its_oldest_event_is_not_extended(
    trained_pair: tuple[Dataset, Path],
) -> None:
    """A cache one short of `max_len`, then two events: the window is full and lost its
    oldest item, yet it is one longer than the cache. Extending would keep the dropped item."""
    _, out = trained_pair
    model = load_model(out, 1)
    model.bind_items(model.loaded.items)
    n = model.max_len
    older = _state([3 + i % 20 for i in range(n - 1)])
    cache = model.build_cache(older)
    assert cache is not None
    newer = _state([3 + i % 20 for i in range(1, n - 1)] + [5, 6])  # oldest dropped, two added
    assert len(newer.items) == n and cache.length == n - 1
    assert model.extend_cached(cache, newer) is None


def test_stored_vectors_of_another_model_with_the_same_version_are_recomputed(
    trained: tuple[Dataset, Path], trained_pair: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """Two checkpoints served directly are both version 1: states keep V_u of the first model
    (another width here), and the second must recompute them, not rank with them."""
    data, single = trained
    _, pair = trained_pair
    db, model_dir = make_engine_files(data, single, tmp_path)
    first = Engine.open(db, model_dir)
    assert first.recommend("u1", k=8).items
    first.close()  # the state snapshot keeps u1's V_u of the single model
    second = Engine.open(db, pair)
    assert second.model.version == first.model.version and second.model.dim != first.model.dim
    got = second.recommend("u1", k=8)  # u1 browses cluster 1
    assert Counter(cluster_of(r.item_id) for r in got.items).most_common(1)[0][0] == 1
    second.close()
