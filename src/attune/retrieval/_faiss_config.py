"""Typed configuration, build report and counters of the FAISS index."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CONFIG = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class HNSWConfig(BaseModel):
    """Hierarchical navigable small-world graph: best latency/recall, memory ~ N * M * 8 B."""

    model_config = _CONFIG
    kind: Literal["hnsw"] = "hnsw"
    m: int = Field(32, ge=4, le=128)
    """Graph neighbours per node; higher raises recall, memory and build time."""
    ef_construction: int = Field(80, ge=8)
    """Candidate list size while building; higher gives a better graph, slower build."""
    ef_search: int = Field(64, ge=1)
    """Candidate list size while searching (raised to the fetch size when that is larger)."""


class IVFConfig(BaseModel):
    """Inverted file over k-means cells: fast to build, supports large catalogues."""

    model_config = _CONFIG
    kind: Literal["ivf"] = "ivf"
    nlist: int | None = Field(None, ge=1)
    """k-means cells; None picks 4 * sqrt(N), capped so each cell trains on >= 39 points."""
    nprobe: int = Field(64, ge=1)
    """Cells visited per query; higher raises recall and latency (on the 1M benchmark 48
    was the least reaching recall@10 0.95; 64 leaves a margin for real embeddings)."""
    train_sample: int = Field(100_000, ge=1)
    """Vectors that train the k-means quantizer (raised to 40 per cell when that is more)."""


class FaissConfig(BaseModel):
    """How the FAISS index is built, searched and maintained."""

    model_config = _CONFIG
    structure: Annotated[HNSWConfig | IVFConfig, Field(discriminator="kind")] = IVFConfig()
    """The ANN structure. IVF by default: on the 1M-item benchmark (bench/ann.py) it reached
    higher filtered recall than HNSW, at a fraction of HNSW's build time, and filters that
    empty a user's neighbourhood only cost it more cells (docs/benchmarks.md)."""
    overfetch: float = Field(2.0, ge=1.0)
    """Post-filter fetch = overfetch * (k + excluded) / share of items that pass the filter."""
    max_fetch: int = Field(512, ge=1)
    """Largest post-filter fetch; narrower filters go to the filtered search at once."""
    max_effort: float = Field(16.0, ge=1.0)
    """Most a search may multiply efSearch / nprobe by (for a filter's selectivity near the
    query and the excluded items) before the exact masked search takes over."""
    exact_below: int | None = Field(None, ge=0)
    """Filters leaving at most this many items go straight to exact search over just those
    items. None = the cost model: exact scores `allowed` items, while a search that must
    see 1 / share more items computes about efSearch * m * N / allowed distances (HNSW) or
    nprobe * N^2 / (nlist * allowed) (IVF); exact wins below sqrt(efSearch * m * N) and
    N * sqrt(nprobe / nlist) allowed items respectively."""
    compact_dead_fraction: float | None = Field(0.3, gt=0.0, le=1.0)
    """Rebuild without tombstones once this share of slots is dead; None leaves it to the caller."""
    build_threads: int | None = Field(None, ge=1)
    """OpenMP threads for building; None uses every core."""
    search_threads: int | None = Field(None, ge=1)
    """OpenMP threads for search; None uses 1 for small batches (a served request) and every
    core for batches of 16+ queries, since thread start-up costs more than one query takes."""
    report_queries: int = Field(200, ge=0)
    """Queries sampled after a build to measure recall against exact; 0 skips the report."""
    report_k: int = Field(10, ge=1)
    """k of the recall@k in the build report."""
    seed: int = 0
    """Seed for training samples and report queries."""


@dataclass(frozen=True)
class BuildReport:
    """What a build cost and how close the served search is to exact."""

    kind: str
    n_items: int
    dim: int
    build_seconds: float
    recall_at_k: float | None
    """Mean share of the exact top-k that `search` returns, over the sampled queries."""
    k: int
    n_queries: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchStats:
    """Counters of how searches were answered, for the engine's metrics."""

    queries: int = 0
    ann_rounds: int = 0
    exact_answers: int = 0
    """Queries answered by the exact masked search (narrow filter or backfill)."""
