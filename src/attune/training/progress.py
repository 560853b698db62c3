"""What a training progress bar says."""

from __future__ import annotations

import math


def progress_label(
    epoch: int,
    member: tuple[int, int] | None,
    last: float | None,
    best: float,
    best_epoch: int,
) -> str:
    """`member k/n · epoch e · valid NDCG@10 x (best y @b)`, leaving out what is not known
    yet (no member outside an ensemble, no score before the first validation)."""
    parts = [] if member is None else [f"member {member[0] + 1}/{member[1]}"]
    parts.append(f"epoch {epoch}")
    if last is not None and math.isfinite(last):
        score = f"valid NDCG@10 {last:.4f}"
        if best_epoch and math.isfinite(best):
            score += f" (best {best:.4f} @{best_epoch})"
        parts.append(score)
    return " · ".join(parts)
