"""The feedback counts (`Tally`) and their public form (`FeedbackSummary`, in `attune.schemas`).

The online join and the SQL report both produce a `Tally`, so the two can be compared
exactly; `FeedbackSummary` is what `/v1/feedback`, the dashboard and `attune report` show.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from attune.ports import ArmCounts
from attune.schemas.feedback import FeedbackSummary, ReasonFeedback, VersionFeedback


@dataclass
class Counts:
    items: int = 0
    clicks: int = 0
    conversions: int = 0


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass
class Tally:
    """Raw counts: lists per model version, items and reactions per (version, reason)."""

    lists: dict[int, int] = field(default_factory=dict)
    by_reason: dict[tuple[int, str], Counts] = field(default_factory=dict)
    unattributed: int = 0
    untagged: int = 0
    arms: dict[tuple[str, str], ArmCounts] = field(default_factory=dict)
    """Per (experiment id, arm): lists, shown items and reactions (online A/B tests)."""

    def counts(self, version: int, reason: str) -> Counts:
        return self.by_reason.setdefault((version, reason), Counts())

    def arm(self, experiment: str, arm: str) -> ArmCounts:
        return self.arms.setdefault((experiment, arm), ArmCounts())

    def copy(self) -> Tally:
        by_reason = {k: replace(v) for k, v in self.by_reason.items()}
        arms = {k: replace(v) for k, v in self.arms.items()}
        return Tally(dict(self.lists), by_reason, self.unattributed, self.untagged, arms)

    def summary(self) -> FeedbackSummary:
        versions: dict[int, Counts] = {v: Counts() for v in self.lists}
        for (version, _), c in self.by_reason.items():
            total = versions.setdefault(version, Counts())
            total.items += c.items
            total.clicks += c.clicks
            total.conversions += c.conversions
        return FeedbackSummary(
            by_version=[
                VersionFeedback(
                    model_version=v,
                    lists=self.lists.get(v, 0),
                    items=c.items,
                    clicks=c.clicks,
                    conversions=c.conversions,
                    ctr=_rate(c.clicks, c.items),
                    conversion_rate=_rate(c.conversions, c.items),
                )
                for v, c in sorted(versions.items())
            ],
            by_reason=[
                ReasonFeedback(
                    model_version=v,
                    reason=r,
                    items=c.items,
                    clicks=c.clicks,
                    conversions=c.conversions,
                    ctr=_rate(c.clicks, c.items),
                )
                for (v, r), c in sorted(self.by_reason.items())
            ],
            unattributed=self.unattributed,
            untagged=self.untagged,
        )
