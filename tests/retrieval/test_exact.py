import numpy as np

from attune.retrieval import ExactIndex, ItemIndex

from .contract import DIM, ItemIndexContract, clustered


class TestExactIndex(ItemIndexContract):
    def make_index(self, dim: int) -> ItemIndex:
        return ExactIndex(dim)


def test_exact_equals_brute_force_argsort() -> None:
    data = clustered(400, seed=9)
    q = np.random.default_rng(0).normal(size=(6, DIM)).astype(np.float32)
    idx = ExactIndex(DIM)
    idx.build(data)
    ids, scores = idx.search(q, 15)
    full = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        data / np.linalg.norm(data, axis=1, keepdims=True)
    ).T
    expected = np.argsort(-full, axis=1)[:, :15]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), atol=1e-5)
