"""Closing the loop: served lists logged as impressions, joined to the events they lead to.

`FeedbackLog` records impressions and counts click-through and conversion online, per model
version and per reason; `attune.stores.impressions` persists them and computes the same counts
from the database alone (`attune report`).
"""

from attune.feedback._config import FeedbackConfig, Outcomes
from attune.feedback._log import FeedbackLog, Impression, ImpressionStore
from attune.feedback._summary import (
    Counts,
    FeedbackSummary,
    ReasonFeedback,
    Tally,
    VersionFeedback,
)

__all__ = [
    "Counts",
    "FeedbackConfig",
    "FeedbackLog",
    "FeedbackSummary",
    "Impression",
    "ImpressionStore",
    "Outcomes",
    "ReasonFeedback",
    "Tally",
    "VersionFeedback",
]
