import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.retrieval import (
    ExactIndex,
    FaissConfig,
    FaissIndex,
    HNSWConfig,
    ItemIndex,
    IVFConfig,
    recall_at_k,
)

from .contract import DIM, ItemIndexContract, clustered

ANN_RECALL_FLOOR = 0.9
"""Stated agreement with exact top-10 on clustered data of HNSW (m=16, efSearch=64) and of
IVF (nprobe=24 of at most 4 * sqrt(N) cells)."""


class TestFaissHNSW(ItemIndexContract):
    def make_index(self, dim: int) -> ItemIndex:
        return FaissIndex(dim, FaissConfig(structure=HNSWConfig(m=16), report_queries=50))


class TestFaissIVF(ItemIndexContract):
    def make_index(self, dim: int) -> ItemIndex:
        return FaissIndex(dim, FaissConfig(structure=IVFConfig(nprobe=64), report_queries=50))


@pytest.mark.parametrize("structure", [HNSWConfig(), IVFConfig(nprobe=16)])
def test_build_report_measures_recall(structure: HNSWConfig | IVFConfig) -> None:
    idx = FaissIndex(DIM, FaissConfig(structure=structure, report_queries=100))
    idx.build(clustered(3000, seed=1))
    report = idx.build_report
    assert report is not None
    assert report.kind == structure.kind and report.n_items == 3000 and report.n_queries == 100
    assert report.recall_at_k is not None and 0.9 <= report.recall_at_k <= 1.0
    assert report.build_seconds > 0


def test_a_poor_index_reports_poor_recall() -> None:
    # One probed cell out of many misses most neighbours: the report must show it.
    cfg = FaissConfig(structure=IVFConfig(nlist=64, nprobe=1), report_queries=100)
    idx = FaissIndex(DIM, cfg)
    idx.build(np.random.default_rng(0).normal(size=(4000, DIM)).astype(np.float32))
    assert idx.build_report is not None and idx.build_report.recall_at_k is not None
    assert idx.build_report.recall_at_k < 0.8


def test_tombstones_are_compacted_past_the_threshold() -> None:
    data = clustered(500)
    idx = FaissIndex(DIM, FaissConfig(compact_dead_fraction=0.2, report_queries=0))
    idx.build(data)
    idx.upsert(np.arange(100), data[100:200])
    assert idx.tombstones == 100  # 100 / 600 slots dead: under the threshold
    idx.upsert(np.arange(100, 150), data[:50])
    assert idx.tombstones == 0  # 150 / 650 crossed 0.2: rebuilt
    assert len(idx) == 500
    assert idx.search(data[[120]], 1)[0][0, 0] in (20, 120)


def test_narrow_filter_uses_exact_path_and_counts_it() -> None:
    idx = FaissIndex(DIM, FaissConfig(report_queries=0))
    idx.build(clustered(5000))
    allowed = np.zeros(5000, dtype=bool)
    allowed[:20] = True  # far below sqrt(efSearch * m * N) = 3200: scoring 20 items is cheaper
    ids, _ = idx.search(clustered(3, seed=7), 10, allowed=allowed)
    assert (ids < 20).all() and (ids >= 0).all()
    assert idx.stats.exact_answers == 3 and idx.stats.ann_rounds == 0


def test_search_leaves_the_callers_thread_count_alone() -> None:
    before = faiss.omp_get_max_threads()
    idx = FaissIndex(DIM, FaissConfig(report_queries=0, search_threads=1))
    idx.build(clustered(300))
    idx.search(clustered(40, seed=2), 5)
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("structure", [HNSWConfig(m=16), IVFConfig(nprobe=24)])
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 2500),
    dim=st.sampled_from([8, 16, 32]),
    clusters=st.integers(1, 50),
)
def test_ann_agrees_with_exact(
    structure: HNSWConfig | IVFConfig, seed: int, n: int, dim: int, clusters: int
) -> None:
    both = clustered(n + 50, dim=dim, clusters=clusters, seed=seed)
    data, queries = both[:n], both[n:]  # queries from the same mixture, not in the index
    ann = FaissIndex(dim, FaissConfig(structure=structure, report_queries=0))
    ann.build(data)
    ref = ExactIndex(dim)
    ref.build(data)
    found, _ = ann.search(queries, 10)
    truth, _ = ref.search(queries, 10)
    assert recall_at_k(found, truth) >= ANN_RECALL_FLOOR


def test_half_filter_is_answered_by_one_post_filter_round() -> None:
    idx = FaissIndex(DIM, FaissConfig(report_queries=0, exact_below=0))
    idx.build(clustered(4000))
    allowed = np.random.default_rng(0).random(4000) < 0.5
    ids, _ = idx.search(clustered(20, seed=3), 10, allowed=allowed)
    assert (ids >= 0).all() and allowed[ids].all()
    assert idx.stats.ann_rounds == 1 and idx.stats.exact_answers == 0


def _own_cluster_case(
    removed_share: float, structure: HNSWConfig | IVFConfig
) -> tuple[float, FaissIndex]:
    """Recall when a filter removes this share of the query's own cluster (and nothing else)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, DIM))
    labels = rng.integers(0, 20, 6000)
    data = (centers[labels] + 0.5 * rng.normal(size=(6000, DIM))).astype(np.float32)
    idx = FaissIndex(DIM, FaissConfig(structure=structure, report_queries=0, exact_below=0))
    idx.build(data)
    ref = ExactIndex(DIM)
    ref.build(data)
    found, truth = [], []
    for c in range(20):
        allowed = (labels != c) | (rng.random(6000) >= removed_share)
        q = (centers[c] + 0.3 * rng.normal(size=DIM)).astype(np.float32)[None]
        found.append(idx.search(q, 10, allowed=allowed)[0][0])
        truth.append(ref.search(q, 10, allowed=allowed)[0][0])
        assert allowed[found[-1]].all() and (found[-1] >= 0).all()
    return recall_at_k(np.array(found), np.array(truth)), idx


def test_hnsw_falls_back_to_exact_when_the_querys_whole_cluster_is_filtered() -> None:
    # The hard case for a graph walk: every near neighbour is filtered out.
    recall, idx = _own_cluster_case(1.0, HNSWConfig())
    assert recall == 1.0 and idx.stats.exact_answers == 20


def test_ivf_reaches_past_a_filtered_cluster_by_probing_more_cells() -> None:
    recall, idx = _own_cluster_case(1.0, IVFConfig(nprobe=8))
    assert recall >= 0.95
    assert idx.stats.exact_answers <= 5


@pytest.mark.parametrize("structure", [HNSWConfig(), IVFConfig(nprobe=8)])
def test_filter_thinning_the_querys_cluster_uses_filtered_ann(
    structure: HNSWConfig | IVFConfig,
) -> None:
    recall, idx = _own_cluster_case(0.8, structure)
    assert recall >= 0.95
    assert idx.stats.exact_answers <= 5  # most queries answered by the filtered ANN phase


def test_set_search_trades_recall_for_speed_without_rebuild() -> None:
    cfg = FaissConfig(structure=IVFConfig(nlist=64, nprobe=1), report_queries=0)
    idx = FaissIndex(DIM, cfg)
    data = np.random.default_rng(0).normal(size=(4000, DIM)).astype(np.float32)
    idx.build(data)
    ref = ExactIndex(DIM)
    ref.build(data)
    q = np.random.default_rng(1).normal(size=(50, DIM)).astype(np.float32)
    low = recall_at_k(idx.search(q, 10)[0], ref.search(q, 10)[0])
    idx.set_search(nprobe=64)
    assert recall_at_k(idx.search(q, 10)[0], ref.search(q, 10)[0]) == 1.0 > low
    with pytest.raises(ValueError):
        idx.set_search(ef_search=10)


def test_long_exclusion_list_is_honoured_with_full_results() -> None:
    data = clustered(5000)
    idx = FaissIndex(DIM, FaissConfig(report_queries=0, exact_below=0))
    idx.build(data)
    ref = ExactIndex(DIM)
    ref.build(data)
    q = data[[17]]
    nearest, _ = ref.search(q, 1500)  # a heavy user: their 1500 closest items were all seen
    ids, _ = idx.search(q, 10, exclude=[nearest[0]])
    truth, _ = ref.search(q, 10, exclude=[nearest[0]])
    assert not set(ids[0].tolist()) & set(nearest[0].tolist())
    assert recall_at_k(ids, truth) >= 0.9
