"""Typed configuration of the real-time engine; every field documented with its default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from attune.data.events import DEFAULT_WINDOW, WindowRule
from attune.feedback import FeedbackConfig
from attune.ports import Durability
from attune.ranking import FilterSpec, PopularityConfig, RankingConfig
from attune.retrieval import FaissConfig


class EngineConfig(BaseModel):
    """How the engine stores, updates and ranks."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    durability: Durability = Durability.NORMAL
    """SQLite commit policy. `normal` (default): WAL without fsync per commit, an acknowledged
    event survives a killed process; `full`: fsync per commit, it also survives a power cut."""
    erasure_rebuild_s: float = Field(10.0, ge=0.0, le=86_400.0)
    """SQLite: how long after an erasure the database file is rebuilt (`VACUUM`), which
    removes the leftover copies of erased rows that deleting them leaves in pages. Erasures
    within this span share one rebuild, during which writes wait (about a second per million
    events); 0 = rebuild inside each erasure request."""
    window: WindowRule = DEFAULT_WINDOW
    """Events that enter the model's window of a user: positive ones only (a low rating or a
    skip then only filters the item), or every event but `hide`, as the trainer sees them
    (it learns from every logged event, its type embedded). `all` suits rating logs where any
    rated item is a sign of interest in watching it (MovieLens streams)."""
    max_seen: int = Field(1000, ge=1)
    """Most seen items remembered per user for the seen-item filter."""
    index: Literal["exact", "faiss"] = "exact"
    """Retrieval: exact matrix product (default up to ~1M items) or FAISS ANN."""
    faiss: FaissConfig = FaissConfig()
    """FAISS structure and search parameters, when `index = "faiss"`."""
    ranking: RankingConfig = RankingConfig()
    """Diversity and exploration defaults (requests may override lambda and share)."""
    popularity: PopularityConfig = PopularityConfig()
    """Time-decayed popularity, the cold-start fallback."""
    default_filter: FilterSpec = FilterSpec()
    """Business rules applied when a request gives none."""
    fallbacks: tuple[Literal["attributes", "popularity"], ...] = ("attributes", "popularity")
    """Cold-start chain for users without a usable history, tried in order."""
    unknown_items: Literal["create", "reject"] = "create"
    """Events on unknown item ids create a cold item (from attributes, when given) or are
    rejected."""
    max_future_seconds: float = Field(300.0, ge=0.0)
    """Events stamped further than this in the future are rejected (clock skew allowance)."""
    incremental: bool = False
    """Use cached keys/values for users whose window is not full (off: always the plain full
    recompute; both agree within 1e-5, see tests/model/test_incremental.py)."""
    kv_cache_users: int = Field(1024, ge=0)
    """Users whose key/value caches are kept when `incremental` is on (least recent dropped)."""
    explain_cache_users: int = Field(100_000, ge=0)
    """Users whose attention weights (the reasons of their lists) are kept from the last V_u
    refresh, so that a list costs no second forward pass to explain."""
    sync_refresh_users: int = Field(64, ge=0)
    """An ingest call touching at most this many users refreshes their V_u before it returns.
    Larger batches (bulk loads) are acknowledged once logged and folded into the state; a
    background thread then refreshes V_u, and a read of a user it has not reached yet
    refreshes that user on the spot, so no answer ever misses an acknowledged event."""
    max_refresh_backlog: int = Field(100_000, ge=1)
    """Most users waiting for the background refresh; an ingest that would pass it refreshes
    the oldest ones itself first (back-pressure: bulk loads then run at refresh speed)."""
    snapshot_every: int = Field(50_000, ge=0)
    """Write a user-state snapshot after this many events (0: only on close)."""
    max_k: int = Field(1000, ge=1)
    """Largest list a request may ask for."""
    threads: int | None = Field(1, ge=1)
    """Torch intra-op threads of this process (None: torch's default, one per core). One is
    fastest for per-event updates of single users and stays fast when other processes busy
    the cores, where a second thread would wait for a core (docs/decisions.md).
    With 1, numpy's BLAS is limited to one thread too (retrieval's product then uses it)."""
    device: str = "cpu"
    """Torch device for the encoder: cpu, cuda or auto."""
    seed: int = 0
    """Seed of the exploration sampler."""
    feedback: FeedbackConfig = FeedbackConfig()
    """Impression logging and the click-through and conversion join (`attune.feedback`)."""
