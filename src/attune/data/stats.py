"""Dataset statistics printed by `attune data inspect`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from attune.data.dataset import Dataset


@dataclass(frozen=True)
class DatasetStats:
    """Counts and distributions a user checks before training on a dataset."""

    name: str
    users: int
    items: int
    interactions: int
    density: float
    length_min: int
    length_p25: float
    length_median: float
    length_p75: float
    length_p90: float
    length_max: int
    time_start: float | None
    time_end: float | None
    event_counts: dict[str, int]
    item_attribute_fields: tuple[str, ...]
    user_attribute_fields: tuple[str, ...]
    item_attribute_tokens: int
    user_attribute_tokens: int

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs in display order."""
        out = [
            ("dataset", self.name),
            ("users", f"{self.users:,}"),
            ("items", f"{self.items:,}"),
            ("interactions", f"{self.interactions:,}"),
            ("density", f"{self.density:.4%}"),
            (
                "sequence length min/p25/median/p75/p90/max",
                f"{self.length_min} / {self.length_p25:g} / {self.length_median:g} / "
                f"{self.length_p75:g} / {self.length_p90:g} / {self.length_max}",
            ),
        ]
        if self.time_start is not None and self.time_end is not None:
            start = datetime.fromtimestamp(self.time_start, UTC).isoformat(timespec="seconds")
            end = datetime.fromtimestamp(self.time_end, UTC).isoformat(timespec="seconds")
            days = (self.time_end - self.time_start) / 86400
            out.append(("time span", f"{start} .. {end} ({days:,.0f} days)"))
        else:
            out.append(("time span", "no timestamps (order only)"))
        out.append(("event types", ", ".join(f"{k}: {v:,}" for k, v in self.event_counts.items())))
        out.append(
            (
                "item attribute fields",
                f"{', '.join(self.item_attribute_fields) or '-'} "
                f"({self.item_attribute_tokens:,} distinct values)",
            )
        )
        out.append(
            (
                "user attribute fields",
                f"{', '.join(self.user_attribute_fields) or '-'} "
                f"({self.user_attribute_tokens:,} distinct values)",
            )
        )
        return out


def describe(dataset: Dataset) -> DatasetStats:
    inter = dataset.interactions
    lengths = np.bincount(inter.users, minlength=dataset.n_users)
    lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        lengths = np.zeros(1, np.int64)
    p25, p50, p75, p90 = np.percentile(lengths, [25, 50, 75, 90])
    names = dataset.event_types.names
    codes, counts = np.unique(inter.event_types, return_counts=True)
    cells = dataset.n_users * dataset.n_items
    has_time = dataset.has_timestamps and len(inter) > 0
    return DatasetStats(
        name=dataset.name,
        users=dataset.n_users,
        items=dataset.n_items,
        interactions=len(inter),
        density=len(inter) / cells if cells else 0.0,
        length_min=int(lengths.min()),
        length_p25=float(p25),
        length_median=float(p50),
        length_p75=float(p75),
        length_p90=float(p90),
        length_max=int(lengths.max()),
        time_start=float(inter.timestamps.min()) if has_time else None,
        time_end=float(inter.timestamps.max()) if has_time else None,
        event_counts={names[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)},
        item_attribute_fields=dataset.item_attributes.fields,
        user_attribute_fields=dataset.user_attributes.fields,
        item_attribute_tokens=len(dataset.item_attributes.tokens),
        user_attribute_tokens=len(dataset.user_attributes.tokens),
    )
