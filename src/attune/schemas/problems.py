"""Error answers: RFC 9457 problem details, with the input fields at fault."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    """One problem with one input field."""

    field: str = Field(
        description="The offending field: a parameter name, or a body path like `[3].user_id`."
    )
    message: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An error, shaped as RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field("about:blank", description="URI naming the problem type.")
    title: str = Field(description="Short summary of the problem type (the HTTP reason).")
    status: int = Field(description="HTTP status code.")
    detail: str = Field(description="What went wrong in this request.")
    errors: list[FieldError] = Field(
        default_factory=list, description="The fields at fault, when the input was invalid."
    )
    error_id: str | None = Field(
        None,
        description="On a server error: the id of the one log line that describes it (give it "
        "when reporting the problem).",
    )
