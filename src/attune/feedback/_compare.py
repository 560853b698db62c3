"""The arms of an online A/B test compared: click-through and conversion per arm with 95%
Wilson intervals, and the challenger's difference to the control with Newcombe's interval
(built from the two Wilson intervals) and a pooled two-proportion z-test.

The unit is the shown item, as in every click-through rate Attune reports: a list item is
clicked at most once. Items of one list, and lists of one user, are not independent trials,
so the intervals are somewhat narrower than the truth when users see many lists; the
assignment is per user, which keeps the arms themselves independent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from attune.ports import ArmCounts
from attune.schemas.experiments import (
    Arm,
    ArmFeedback,
    Comparison,
    Difference,
    Experiment,
    Rate,
)

Z95 = 1.959963984540054
"""The standard normal quantile of 0.975: two-sided 95%."""


def wilson(successes: int, trials: int, z: float = Z95) -> Rate:
    """The proportion and its Wilson score interval; (0, 0, 1) without trials."""
    if trials <= 0:
        return Rate(value=0.0, low=0.0, high=1.0)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # The interval holds p; min/max only keep rounding (x = 0 or x = n) from crossing it.
    return Rate(value=p, low=max(0.0, min(p, centre - half)), high=min(1.0, max(p, centre + half)))


def difference(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> Difference:
    """Rate 1 minus rate 0: Newcombe's hybrid score interval (his method 10) and the two-sided
    p-value of the pooled z-test. Significant when the interval excludes 0."""
    r1, r0 = wilson(x1, n1, z), wilson(x0, n0, z)
    d = r1.value - r0.value
    low = d - math.sqrt((r1.value - r1.low) ** 2 + (r0.high - r0.value) ** 2)
    high = d + math.sqrt((r1.high - r1.value) ** 2 + (r0.value - r0.low) ** 2)
    p_value = 1.0
    if n1 > 0 and n0 > 0:
        pooled = (x1 + x0) / (n1 + n0)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        if se > 0:
            p_value = math.erfc(abs(d / se) / math.sqrt(2))
    significant = n1 > 0 and n0 > 0 and (low > 0 or high < 0)
    return Difference(value=d, low=low, high=high, p_value=p_value, significant=significant)


def compare(experiment: Experiment, arms: Mapping[tuple[str, str], ArmCounts]) -> Comparison:
    """`experiment`'s arms from the counts per (experiment id, arm) of a feedback report."""
    control = arms.get((experiment.id, "control"), ArmCounts())
    challenger = arms.get((experiment.id, "challenger"), ArmCounts())
    ctr = difference(challenger.clicks, challenger.items, control.clicks, control.items)
    conversion = difference(
        challenger.conversions, challenger.items, control.conversions, control.items
    )
    winner: Arm | None = None
    if ctr.significant:
        winner = "challenger" if ctr.value > 0 else "control"
    return Comparison(
        experiment=experiment,
        arms=[
            _arm("control", experiment.control, control),
            _arm("challenger", experiment.challenger, challenger),
        ],
        ctr=ctr,
        conversion=conversion,
        winner=winner,
    )


def _arm(arm: Arm, version: int, counts: ArmCounts) -> ArmFeedback:
    return ArmFeedback(
        arm=arm,
        model_version=version,
        lists=counts.lists,
        items=counts.items,
        clicks=counts.clicks,
        conversions=counts.conversions,
        ctr=wilson(counts.clicks, counts.items),
        conversion_rate=wilson(counts.conversions, counts.items),
    )
