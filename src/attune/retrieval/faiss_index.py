"""Approximate cosine retrieval with FAISS (HNSW or IVF), behind the same interface as exact.

FAISS labels are the store's slot numbers. HNSW cannot delete or move a vector, so an update
appends a new slot and tombstones the old one; tombstones are skipped at search time and
dropped by `compact()` (run automatically past a dead fraction).

Filtering. A request brings a mask over items (rules for everyone) and short per-query
exclusion lists (the user's seen, hidden and disliked items). Exclusions are near the query
by nature, masks may be (a user's favourite category excluded), so search is in two phases:
1. Post-filter: an unfiltered ANN search over-fetches k / (share of items the mask passes)
   plus the number excluded, and keeps the hits that pass. Enough for most requests.
2. When too few passed, the share of non-excluded hits that passed estimates the mask's
   selectivity r near the query; FAISS searches again with mask and exclusions as a bitmap
   it checks while it walks (`IDSelectorBitmap`), with the effort (efSearch or nprobe)
   scaled by 1 / r plus room for the excluded items. Past `max_effort`, HNSW gives up
   (its beam would stay inside the filtered-out region) and IVF searches at `max_effort`
   (more cells always reach further out).
Anything still short, or a filter so narrow that scoring the few items left is cheaper than a
graph walk, gets the exact masked search, so results always hold min(k, eligible) items.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import faiss
import numpy as np

from attune.log import get_logger
from attune.retrieval._faiss_config import (
    BuildReport,
    FaissConfig,
    HNSWConfig,
    IVFConfig,
    SearchStats,
)
from attune.retrieval._protocol import check_search_args
from attune.retrieval._store import (
    VectorStore,
    check_ids,
    check_vectors,
    normalise,
    recall_at_k,
)

_log = get_logger(__name__)


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """Run a block with `n` FAISS OpenMP threads (a per-thread setting), then restore."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissIndex:
    """ANN item index with exact-filter semantics; see the module docstring."""

    def __init__(self, dim: int, config: FaissConfig | None = None) -> None:
        self.config = config or FaissConfig()
        self._store = VectorStore(dim)
        self._index: Any = None
        self._cores = faiss.omp_get_max_threads()
        self.build_report: BuildReport | None = None
        self.stats = SearchStats()

    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return self._store.n_alive

    @property
    def tombstones(self) -> int:
        """Dead slots still in the ANN structure (removed or superseded vectors)."""
        return self._store.n_dead

    # ----- building and updates -----

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        vecs = check_vectors(vectors, self.dim)
        item_ids = np.arange(len(vecs)) if ids is None else check_ids(ids, len(vecs))
        start = time.perf_counter()
        self._rebuild(vecs, item_ids)
        seconds = time.perf_counter() - start
        recall, n_q = self._measure_recall()
        self.stats = SearchStats()  # the report's queries are not traffic
        self.build_report = BuildReport(
            kind=self.config.structure.kind,
            n_items=len(vecs),
            dim=self.dim,
            build_seconds=seconds,
            recall_at_k=recall,
            k=self.config.report_k,
            n_queries=n_q,
            params=self.config.structure.model_dump(),
        )
        _log.info("faiss index built", **self.build_report.__dict__)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vecs = check_vectors(vectors, self.dim)
        item_ids = check_ids(ids, len(vecs))
        if self._index is None:
            # An IVF quantizer needs data to train on; the first vectors provide it.
            self._rebuild(vecs, item_ids)
            return
        self._store.append(item_ids, vecs)
        with omp_threads(self._build_threads()):
            self._index.add(vecs)
        self._maybe_compact()

    def remove(self, ids: np.ndarray) -> None:
        self._store.kill(np.asarray(ids, np.int64).reshape(-1))
        self._maybe_compact()

    def set_search(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Change the recall/latency knob of the built index (no rebuild), e.g. when tuning."""
        structure = self.config.structure
        if isinstance(structure, HNSWConfig) and ef_search is not None:
            structure = structure.model_copy(update={"ef_search": ef_search})
            if self._index is not None:
                self._index.hnsw.efSearch = ef_search
        elif isinstance(structure, IVFConfig) and nprobe is not None:
            structure = structure.model_copy(update={"nprobe": nprobe})
            if self._index is not None:
                self._index.nprobe = min(nprobe, self._index.nlist)
        else:
            raise ValueError(f"no such search parameter for a {structure.kind} index")
        self.config = self.config.model_copy(update={"structure": structure})

    def compact(self) -> None:
        """Rebuild from live items only, dropping tombstones (O(N) build time)."""
        live = self._store.live_ids()
        dead = self._store.n_dead
        self._rebuild(self._store.vectors(live), live)
        _log.info("faiss index compacted", dropped=dead, n_items=len(live))

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return self._store.slots_of(np.asarray(ids, np.int64).reshape(-1)) >= 0

    def ids(self) -> np.ndarray:
        return self._store.live_ids()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._store.vectors(np.asarray(ids, np.int64).reshape(-1))

    def _build_threads(self) -> int:
        return self.config.build_threads or self._cores

    def _rebuild(self, vecs: np.ndarray, ids: np.ndarray) -> None:
        self._store.reset(vecs, ids)
        self._index = None
        if len(vecs) == 0:
            return
        structure = self.config.structure
        index: Any
        with omp_threads(self._build_threads()):
            if isinstance(structure, HNSWConfig):
                index = faiss.IndexHNSWFlat(self.dim, structure.m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = structure.ef_construction
                index.hnsw.efSearch = structure.ef_search
            else:
                n = len(vecs)
                nlist = structure.nlist or int(4 * math.sqrt(n))
                nlist = max(1, min(nlist, n // 39 or 1))
                quantizer = faiss.IndexFlatIP(self.dim)
                index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
                rng = np.random.default_rng(self.config.seed)
                # k-means wants >= 39 points per cell; fewer trains poor cells.
                size = min(n, max(structure.train_sample, 40 * nlist))
                sample = rng.choice(n, size=size, replace=False)
                index.cp.seed = self.config.seed
                index.train(vecs[np.sort(sample)])
                index.nprobe = min(structure.nprobe, nlist)
            index.add(vecs)
        self._index = index

    def _maybe_compact(self) -> None:
        limit = self.config.compact_dead_fraction
        if (
            limit is not None
            and self._store.n_slots
            and (self._store.n_dead / self._store.n_slots > limit)
        ):
            self.compact()

    def _measure_recall(self) -> tuple[float | None, int]:
        n_q = min(self.config.report_queries, len(self))
        if n_q == 0:
            return None, 0
        # User vectors are not item vectors: perturb sampled items so a query is not its own
        # nearest neighbour, which would flatter the recall.
        rng = np.random.default_rng(self.config.seed)
        base = self._store.vectors(rng.choice(self.ids(), size=n_q, replace=False))
        queries = normalise(base + rng.normal(0, 1 / math.sqrt(self.dim), base.shape))
        k = self.config.report_k
        truth, _ = self._store.exact_search(queries, k)
        found, _ = self.search(queries, k)
        return recall_at_k(found, truth), n_q

    # ----- search -----

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, np.float32)
        check_search_args(q, k, self.dim, allowed, exclude)
        q = normalise(q)
        n_b = len(q)
        out_ids = np.full((n_b, k), -1, np.int64)
        out_scores = np.full((n_b, k), -np.inf, np.float32)
        self.stats.queries += n_b
        if k == 0 or self._index is None or len(self) == 0:
            return out_ids, out_scores
        empty = np.empty(0, np.int64)
        excl = [np.asarray(e, np.int64) for e in exclude] if exclude else [empty] * n_b
        # Dead slots and the item mask as one mask over slots (None: every slot qualifies).
        eligible = None
        n_eligible = len(self)
        if allowed is not None or self._store.n_dead:
            eligible = self._store.eligible_slots(allowed)
            n_eligible = int(np.count_nonzero(eligible))
        if n_eligible == 0:
            return out_ids, out_scores
        short = np.arange(n_b)
        if n_eligible > self._exact_below():
            local = self._post_filter(q, k, eligible, n_eligible, excl, out_ids, out_scores)
            short = np.asarray(
                [
                    b
                    for b, share in local.items()
                    if not self._filtered(q, b, k, share, eligible, excl, out_ids, out_scores)
                ],
                np.int64,
            )
        if len(short):
            # Narrow filter, or ANN could not reach k eligible items: the exact masked
            # search returns the true top-k of what passes, so lists are never short.
            self.stats.exact_answers += len(short)
            ids, scores = self._store.exact_search(
                q[short], k, allowed=allowed, exclude=[excl[b] for b in short], eligible=eligible
            )
            out_ids[short], out_scores[short] = ids, scores
        return out_ids, out_scores

    def _exact_below(self) -> float:
        if self.config.exact_below is not None:
            return self.config.exact_below
        structure = self.config.structure
        n = self._store.n_slots
        if isinstance(structure, HNSWConfig):
            return math.sqrt(structure.ef_search * structure.m * n)
        return n * math.sqrt(structure.nprobe / self._index.nlist)

    def _post_filter(
        self,
        q: np.ndarray,
        k: int,
        eligible: np.ndarray | None,
        n_eligible: int,
        excl: list[np.ndarray],
        out_ids: np.ndarray,
        out_scores: np.ndarray,
    ) -> dict[int, float]:
        """Phase 1: unfiltered over-fetch, keep what passes.

        Returns the rows left short, each with the share of its non-excluded hits that
        passed the mask (the mask's selectivity near that query).
        """
        share = n_eligible / self._store.n_slots
        # Excluded ids are an exact count, so they are added, not scaled.
        n_excl = max(len(e) for e in excl)
        fetch = math.ceil(self.config.overfetch * k / share) + n_excl
        if fetch > self.config.max_fetch:
            return dict.fromkeys(range(len(q)), share)
        self.stats.ann_rounds += 1
        effort = self._effort(share, n_excl)
        scores, labels = self._run(q, fetch, self._params(fetch, effort, None))
        short: dict[int, float] = {}
        for b in range(len(q)):
            got, considered = self._accept(
                labels[b], scores[b], k, eligible, excl[b], out_ids, out_scores, b
            )
            if got < k:
                short[b] = got / max(considered, 1)
        return short

    def _filtered(
        self,
        q: np.ndarray,
        b: int,
        k: int,
        local_share: float,
        eligible: np.ndarray | None,
        excl: list[np.ndarray],
        out_ids: np.ndarray,
        out_scores: np.ndarray,
    ) -> bool:
        """Phase 2 for row b: FAISS checks a bitmap while it searches; True when k filled."""
        effort = self._effort(local_share, len(excl[b]))
        if effort > self.config.max_effort:
            if isinstance(self.config.structure, HNSWConfig):
                return False  # a walk whose whole beam is filtered out cannot get further
            # IVF visits cells in order of distance, so more cells always reach further out,
            # and filtered-out items cost only a bitmap test: try at the largest effort.
            effort = self.config.max_effort
        allowed_slots = (
            np.ones(self._store.n_slots, dtype=bool) if eligible is None else eligible.copy()
        )
        ex = self._store.slots_of(excl[b])
        allowed_slots[ex[ex >= 0]] = False
        bits = np.packbits(allowed_slots, bitorder="little")  # must outlive the search call
        selector = faiss.IDSelectorBitmap(len(allowed_slots), faiss.swig_ptr(bits))
        self.stats.ann_rounds += 1
        scores, labels = self._run(q[b : b + 1], k, self._params(k, effort, selector))
        got, _ = self._accept(
            labels[0], scores[0], k, allowed_slots, excl[b][:0], out_ids, out_scores, b
        )
        return got >= k

    def _effort(self, share: float, n_excluded: int) -> float:
        """Search effort multiplier so that the search sees as many eligible items as an
        unfiltered one: 1 / share for the mask, plus room for the excluded items, which
        lie near the query (a user's seen items are what their vector is made of)."""
        if share <= 0:
            return math.inf
        structure = self.config.structure
        if isinstance(structure, HNSWConfig):
            room = structure.ef_search
        else:
            room = structure.nprobe * self._store.n_slots / self._index.nlist
        return 1.0 / share + n_excluded / room

    def _run(self, q: np.ndarray, fetch: int, params: Any) -> tuple[np.ndarray, np.ndarray]:
        threads = self.config.search_threads or (1 if len(q) < 16 else self._cores)
        with omp_threads(threads):
            scores, labels = self._index.search(q, fetch, params=params)
        return scores, labels

    def _params(self, fetch: int, effort: float, selector: Any) -> Any:
        structure = self.config.structure
        if isinstance(structure, HNSWConfig):
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # stub lags
            params.efSearch = max(math.ceil(structure.ef_search * effort), fetch)
        else:
            params = faiss.SearchParametersIVF()
            params.nprobe = min(self._index.nlist, math.ceil(structure.nprobe * effort))
        if selector is not None:
            params.sel = selector
        return params

    def _accept(
        self,
        labels: np.ndarray,
        scores: np.ndarray,
        k: int,
        eligible: np.ndarray | None,
        exclude: np.ndarray,
        out_ids: np.ndarray,
        out_scores: np.ndarray,
        row: int,
    ) -> tuple[int, int]:
        """Write the first k hits (best first) that are eligible and not excluded into `row`.

        Returns (items written, hits that were not excluded).
        """
        found = labels >= 0
        slots, sc = labels[found], scores[found]
        items = self._store.slot_items(slots)
        if len(exclude):
            keep = ~np.isin(items, exclude)
            slots, sc, items = slots[keep], sc[keep], items[keep]
        ok = np.ones(len(slots), dtype=bool) if eligible is None else eligible[slots]
        items, sc = items[ok][:k], sc[ok][:k]
        out_ids[row, : len(items)] = items
        out_scores[row, : len(items)] = sc
        return len(items), len(slots)
