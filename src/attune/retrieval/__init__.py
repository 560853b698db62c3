"""Item retrieval: cosine top-k over item vectors, exact or approximate, one interface."""

from attune.retrieval._faiss_config import (
    BuildReport,
    FaissConfig,
    HNSWConfig,
    IVFConfig,
    SearchStats,
)
from attune.retrieval._protocol import ItemIndex
from attune.retrieval._store import normalise, recall_at_k, serial_blas
from attune.retrieval.exact import ExactIndex
from attune.retrieval.faiss_index import FaissIndex

__all__ = [
    "BuildReport",
    "ExactIndex",
    "FaissConfig",
    "FaissIndex",
    "HNSWConfig",
    "IVFConfig",
    "ItemIndex",
    "SearchStats",
    "normalise",
    "recall_at_k",
    "serial_blas",
]
