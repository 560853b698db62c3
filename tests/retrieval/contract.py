"""The behaviour every `ItemIndex` must show; each implementation's test class inherits this."""

from __future__ import annotations

import numpy as np
import pytest

from attune.retrieval import ExactIndex, ItemIndex

DIM = 16


def clustered(n: int, dim: int = DIM, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Gaussian-mixture vectors: items cluster by topic, as trained embeddings do."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, n)
    return (centers[labels] + 0.5 * rng.normal(size=(n, dim))).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def real_ids(ids: np.ndarray) -> np.ndarray:
    return ids[ids >= 0]


class ItemIndexContract:
    """Subclasses provide `make_index(dim)`; data is small enough that every index is exact."""

    n = 600

    def make_index(self, dim: int) -> ItemIndex:
        raise NotImplementedError

    @pytest.fixture
    def data(self) -> np.ndarray:
        return clustered(self.n)

    @pytest.fixture
    def index(self, data: np.ndarray) -> ItemIndex:
        idx = self.make_index(DIM)
        idx.build(data)
        return idx

    def exact(self, data: np.ndarray) -> ExactIndex:
        ref = ExactIndex(DIM)
        ref.build(data)
        return ref

    def test_is_an_item_index(self, index: ItemIndex) -> None:
        assert isinstance(index, ItemIndex)
        assert len(index) == self.n
        assert index.dim == DIM

    def test_item_vector_finds_itself_first_with_cosine_one(
        self, index: ItemIndex, data: np.ndarray
    ) -> None:
        ids, scores = index.search(data[[3, 77, 500]], 5)
        assert ids[:, 0].tolist() == [3, 77, 500]
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)

    def test_scores_are_cosines_best_first(self, index: ItemIndex, data: np.ndarray) -> None:
        q = np.random.default_rng(1).normal(size=(4, DIM)).astype(np.float32) * 7.0
        ids, scores = index.search(q, 10)
        expected = np.einsum("bkd,bd->bk", unit(data[ids]), unit(q))
        np.testing.assert_allclose(scores, expected, atol=1e-5)
        assert (np.diff(scores, axis=1) <= 1e-6).all()

    def test_matches_exact_top_k(self, index: ItemIndex, data: np.ndarray) -> None:
        q = np.random.default_rng(2).normal(size=(8, DIM)).astype(np.float32)
        ids, _ = index.search(q, 10)
        truth, _ = self.exact(data).search(q, 10)
        overlap = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ids, truth, strict=True)])
        assert overlap >= 0.95

    def test_k_beyond_size_pads(self, data: np.ndarray) -> None:
        idx = self.make_index(DIM)
        idx.build(data[:5])
        ids, scores = idx.search(data[:1], 8)
        assert sorted(ids[0, :5].tolist()) == [0, 1, 2, 3, 4]
        assert ids[0, 5:].tolist() == [-1, -1, -1]
        assert np.isneginf(scores[0, 5:]).all()

    def test_empty_index_returns_padding(self) -> None:
        idx = self.make_index(DIM)
        idx.build(np.empty((0, DIM), np.float32))
        ids, scores = idx.search(np.ones((2, DIM), np.float32), 3)
        assert (ids == -1).all() and np.isneginf(scores).all()
        assert len(idx) == 0

    @pytest.mark.parametrize("n_allowed", [3, 10, 25, 300])
    def test_mask_keeps_only_allowed_and_never_fewer_than_k(
        self, index: ItemIndex, data: np.ndarray, n_allowed: int
    ) -> None:
        rng = np.random.default_rng(n_allowed)
        allowed = np.zeros(self.n, dtype=bool)
        allowed[rng.choice(self.n, n_allowed, replace=False)] = True
        q = rng.normal(size=(5, DIM)).astype(np.float32)
        ids, _ = index.search(q, 10, allowed=allowed)
        for row in ids:
            got = real_ids(row)
            assert len(got) == min(10, n_allowed)
            assert allowed[got].all()
            assert len(set(got.tolist())) == len(got)

    def test_narrow_mask_is_answered_exactly(self, index: ItemIndex, data: np.ndarray) -> None:
        allowed = np.zeros(self.n, dtype=bool)
        allowed[::40] = True  # 15 items: a narrow filter
        q = np.random.default_rng(3).normal(size=(3, DIM)).astype(np.float32)
        ids, _ = index.search(q, 10, allowed=allowed)
        truth, _ = self.exact(data).search(q, 10, allowed=allowed)
        np.testing.assert_array_equal(ids, truth)

    def test_mask_shorter_than_catalogue_disallows_the_rest(
        self, index: ItemIndex, data: np.ndarray
    ) -> None:
        allowed = np.ones(100, dtype=bool)
        ids, _ = index.search(data[[400]], 10, allowed=allowed)
        assert (real_ids(ids[0]) < 100).all() and len(real_ids(ids[0])) == 10

    def test_exclude_is_per_query(self, index: ItemIndex, data: np.ndarray) -> None:
        q = data[[10, 20]]
        first, _ = index.search(q, 5)
        ids, _ = index.search(q, 5, exclude=[first[0], np.empty(0, np.int64)])
        assert not set(ids[0].tolist()) & set(first[0].tolist())
        assert len(real_ids(ids[0])) == 5
        np.testing.assert_array_equal(ids[1], first[1])

    def test_added_item_is_found_at_once(self, index: ItemIndex) -> None:
        new = np.random.default_rng(4).normal(size=(1, DIM)).astype(np.float32)
        index.upsert(np.array([5000]), new)
        ids, scores = index.search(new, 3)
        assert ids[0, 0] == 5000 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
        assert len(index) == self.n + 1
        assert index.contains(np.array([5000, 4999])).tolist() == [True, False]

    def test_updated_item_moves_and_is_listed_once(
        self, index: ItemIndex, data: np.ndarray
    ) -> None:
        index.upsert(np.array([7]), data[[300]])
        ids, _ = index.search(data[[300]], 5)
        assert set(ids[0, :2].tolist()) == {7, 300}
        old, _ = index.search(data[[7]], 50)
        assert (real_ids(old[0]) == 7).sum() <= 1
        assert len(index) == self.n
        np.testing.assert_allclose(index.vectors(np.array([7]))[0], unit(data[300]), atol=1e-6)

    def test_removed_item_is_never_returned(self, index: ItemIndex, data: np.ndarray) -> None:
        index.remove(np.array([3, 4, 99999]))
        ids, _ = index.search(data[[3, 4]], 20)
        assert not {3, 4} & set(ids.ravel().tolist())
        assert len(index) == self.n - 2
        assert not index.contains(np.array([3])).any()
        with pytest.raises(KeyError):
            index.vectors(np.array([3]))
        index.upsert(np.array([3]), data[[3]])  # and can come back
        assert index.search(data[[3]], 1)[0][0, 0] == 3

    def test_churn_keeps_results_full_and_unique(self, index: ItemIndex, data: np.ndarray) -> None:
        rng = np.random.default_rng(5)
        for _ in range(6):  # enough replaced vectors to pass any tombstone threshold
            ids = rng.choice(self.n, 100, replace=False)
            index.upsert(ids, data[rng.permutation(ids)])
        index.remove(np.arange(50))
        assert len(index) == self.n - 50
        assert sorted(index.ids().tolist()) == list(range(50, self.n))
        got, _ = index.search(rng.normal(size=(5, DIM)).astype(np.float32), 30)
        for row in got:
            assert len(set(row.tolist())) == 30 and (row >= 50).all()

    def test_custom_sparse_ids(self, data: np.ndarray) -> None:
        idx = self.make_index(DIM)
        ids = np.arange(100) * 10 + 7
        idx.build(data[:100], ids)
        got, _ = idx.search(data[[42]], 1)
        assert got[0, 0] == 427
        np.testing.assert_array_equal(np.sort(idx.ids()), ids)

    def test_rejects_bad_input(self, index: ItemIndex, data: np.ndarray) -> None:
        with pytest.raises(ValueError):
            index.search(np.ones((1, DIM + 1), np.float32), 3)
        with pytest.raises(ValueError):
            index.upsert(np.array([1, 1]), data[:2])
        bad = data[:1].copy()
        bad[0, 0] = np.nan
        with pytest.raises(ValueError):
            index.upsert(np.array([9000]), bad)
        with pytest.raises(ValueError):
            index.search(data[:2], 3, exclude=[np.array([1])])

    def test_mask_applies_to_item_ids_not_positions(self, data: np.ndarray) -> None:
        idx = self.make_index(DIM)
        ids = np.random.default_rng(6).permutation(300) + 1000
        idx.build(data[:300], ids)
        allowed = np.zeros(1300, dtype=bool)
        allowed[ids[:50]] = True  # the items stored at positions 0..49
        got, _ = idx.search(data[[10, 200]], 10, allowed=allowed)
        assert set(got.ravel().tolist()) <= set(ids[:50].tolist())
        assert got[0, 0] == ids[10]

    def test_reused_read_only_mask_sees_later_changes(
        self, index: ItemIndex, data: np.ndarray
    ) -> None:
        allowed = np.zeros(self.n + 10, dtype=bool)
        allowed[::20] = True  # 30 items, a narrow filter shared by many requests
        allowed.setflags(write=False)
        q = data[[40]]
        first, _ = index.search(q, 5, allowed=allowed)
        assert first[0, 0] == 40
        index.remove(np.array([40]))
        index.upsert(np.array([self.n]), data[[40]])  # allowed, and identical to the query
        again, _ = index.search(q, 5, allowed=allowed)
        assert again[0, 0] == self.n and 40 not in again[0]
        index.upsert(np.array([60]), -data[40:41])  # moved far away from the query
        last, _ = index.search(q, 30, allowed=allowed)
        assert last[0, -1] == 60
