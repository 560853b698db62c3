"""Closing the loop: served lists logged as impressions, joined to the events they lead to.

`FeedbackLog` records impressions and counts click-through and conversion online, per model
version and per reason; a storage's `ImpressionLog` (`attune.ports`) persists them and
computes the same counts from the storage alone (`attune report`). Lists served in an online
A/B test also count per arm; `compare` sets the arms side by side with 95% intervals.
"""

from attune.feedback._compare import compare, difference, wilson
from attune.feedback._config import FeedbackConfig, Outcomes
from attune.feedback._log import FeedbackLog, tally_of
from attune.feedback._summary import (
    Counts,
    FeedbackSummary,
    ReasonFeedback,
    Tally,
    VersionFeedback,
)
from attune.ports import Impression, ImpressionLog

__all__ = [
    "Counts",
    "FeedbackConfig",
    "FeedbackLog",
    "FeedbackSummary",
    "Impression",
    "ImpressionLog",
    "Outcomes",
    "ReasonFeedback",
    "Tally",
    "VersionFeedback",
    "compare",
    "difference",
    "tally_of",
    "wilson",
]
