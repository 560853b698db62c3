"""Per-user evaluation rows and their export to CSV or Parquet."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PerUserResults:
    """One row per evaluated user, as parallel arrays."""

    users: np.ndarray
    """int64 internal user index."""
    targets: np.ndarray
    """int64 internal index of the held-out item."""
    ranks: np.ndarray
    """int64 1-based rank of the target among the candidates (pessimistic ties)."""
    hits: np.ndarray
    """bool, rank <= k."""
    ndcg: np.ndarray
    """float64 NDCG@k of this user."""

    def __len__(self) -> int:
        return len(self.users)

    def columns(self) -> dict[str, np.ndarray]:
        return {
            "user": self.users,
            "target": self.targets,
            "rank": self.ranks,
            "hit": self.hits,
            "ndcg": self.ndcg,
        }

    def save(self, path: str | Path) -> Path:
        """Write to `.csv` or `.parquet`, chosen by the file suffix."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = self.columns()
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table(cols), path)
        elif path.suffix == ".csv":
            with path.open("w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(cols)
                # Hits as 0/1, which every CSV reader parses as a number.
                values = [c.astype(np.int64) if c.dtype == bool else c for c in cols.values()]
                writer.writerows(zip(*(c.tolist() for c in values), strict=True))
        else:
            raise ValueError(
                f"unsupported per-user file type {path.suffix!r}; use .csv or .parquet"
            )
        return path
