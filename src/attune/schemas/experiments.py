"""Online A/B tests of two model versions: the experiment as stored and served, the admin
request that starts one, and the comparison of its arms (`attune models compare`,
`GET /v1/models/experiment/compare`, the dashboard)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from attune.schemas.request import Count

Arm = Literal["control", "challenger"]
"""control: the current version; challenger: the version tested against it."""

EXPERIMENT_ID = r"^[0-9a-f]{6,32}$"


class Experiment(BaseModel):
    """An online A/B test: users split by a stable hash of their id between the current
    version (control) and a challenger version. Stored beside the model pointer, so every
    server of a deployment follows it as it follows promotions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        pattern=EXPERIMENT_ID,
        description="Experiment id; also the salt of the assignment hash, so a new experiment "
        "draws its arms afresh.",
    )
    control: int = Field(ge=1, description="The version current when the experiment started.")
    challenger: int = Field(ge=1, description="The version tested against it.")
    share: float = Field(ge=0.0, le=1.0, description="Share of users given the challenger.")
    started: datetime = Field(description="When the experiment started.")
    stopped: datetime | None = Field(
        None, description="When it stopped (null while it runs); its counts stay readable."
    )

    @model_validator(mode="after")
    def _two_versions(self) -> Experiment:
        if self.control == self.challenger:
            raise ValueError("the challenger must differ from the control version")
        return self

    @property
    def running(self) -> bool:
        return self.stopped is None


class ExperimentStart(BaseModel):
    """`PUT /v1/models/experiment`: test a registered version against the current one."""

    model_config = ConfigDict(extra="forbid", strict=True)

    challenger: Count = Field(ge=1, description="Registered version to test.")
    share: float = Field(
        ge=0.0, le=1.0, description="Share of users (0..1) served by the challenger."
    )


class Rate(BaseModel):
    """A proportion and its 95% Wilson score interval."""

    value: float = Field(description="successes / trials (0 when there are no trials).")
    low: float = Field(description="Lower end of the 95% interval.")
    high: float = Field(description="Upper end of the 95% interval.")


class ArmFeedback(BaseModel):
    """The lists one arm served and the reactions to them."""

    arm: Arm = Field(description="control or challenger.")
    model_version: int = Field(description="The arm's model version.")
    lists: int = Field(description="Lists served to the arm's users.")
    items: int = Field(description="Items shown in those lists.")
    clicks: int = Field(description="Shown items clicked (each list item once at most).")
    conversions: int = Field(description="Shown items converted (each list item once at most).")
    ctr: Rate = Field(description="Click-through rate: clicks / items shown.")
    conversion_rate: Rate = Field(description="Conversions / items shown.")


class Difference(BaseModel):
    """Challenger minus control, for one rate."""

    value: float = Field(description="Challenger rate minus control rate.")
    low: float = Field(description="Lower end of the 95% interval (Newcombe, from Wilson's).")
    high: float = Field(description="Upper end of the 95% interval.")
    p_value: float = Field(description="Two-sided p-value of the pooled two-proportion z-test.")
    significant: bool = Field(description="Whether the 95% interval excludes 0.")


class Comparison(BaseModel):
    """An experiment's arms side by side, with the difference of their rates."""

    experiment: Experiment = Field(description="The experiment compared.")
    arms: list[ArmFeedback] = Field(description="control, then challenger.")
    ctr: Difference = Field(description="Click-through: challenger minus control.")
    conversion: Difference = Field(description="Conversion: challenger minus control.")
    winner: Arm | None = Field(
        description="The arm with the significantly higher click-through rate (95%); null "
        "when the difference is not significant."
    )
