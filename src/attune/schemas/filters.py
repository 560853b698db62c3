"""Which items a request may return: `FilterSpec`, and `Filters`, its strict request form."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_serializer,
    field_validator,
)
from pydantic.json_schema import JsonDict

from attune.schemas.records import ExternalId
from attune.schemas.request import STRICT

MAX_FILTER_VALUES = 1000
"""Most values one field of an include/exclude rule may list."""

_RULES_SCHEMA: JsonDict = {
    "propertyNames": {"minLength": 1, "pattern": "^[^=]*$"},
    "additionalProperties": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": MAX_FILTER_VALUES,
    },
}
"""`_rules` as JSON Schema: field names non-empty without `=`, 1 to 1,000 values each."""


class FilterSpec(BaseModel):
    """Which items a request may return. Also the JSON body of the API's `filters` field."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    include: dict[str, list[str]] = Field(default_factory=dict, json_schema_extra=_RULES_SCHEMA)
    """Keep only items that, for every field named, have one of its values
    (`{"genre": ["Drama", "Comedy"], "brand": ["acme"]}` = (Drama or Comedy) and acme). The
    API refuses a field no item has (422, listing the known fields)."""
    exclude: dict[str, list[str]] = Field(default_factory=dict, json_schema_extra=_RULES_SCHEMA)
    """Drop items that have any of the listed values of any field named (the API refuses a
    field no item has, as for `include`)."""
    exclude_items: list[ExternalId] = Field(default_factory=list, max_length=10_000)
    """External item ids not to return in this request (for example, those already shown)."""
    respect_availability: bool = True
    """Drop items outside their available_from / available_until window."""
    exclude_seen: bool = True
    """Drop items the user has interacted with (except through `reconsumable_event_types`)."""
    reconsumable_event_types: frozenset[str] = frozenset()
    """Event types that do not make an item 'seen' (e.g. {"purchase"} to allow re-buying
    consumables). An item stays excluded if any other event type touched it."""
    exclude_negative: bool = True
    """Drop items the user rated low, disliked or marked as not interesting."""

    @field_validator("include", "exclude")
    @classmethod
    def _rules(cls, rules: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, values in rules.items():
            if not name or "=" in name:
                raise ValueError(f"attribute field name {name!r} must be non-empty without '='")
            if not values:
                raise ValueError(f"field {name!r} lists no values (omit the field instead)")
            if len(values) > MAX_FILTER_VALUES:
                raise ValueError(f"field {name!r} lists more than {MAX_FILTER_VALUES} values")
        return rules

    @field_serializer("reconsumable_event_types")
    def _sorted(self, types: frozenset[str]) -> list[str]:
        return sorted(types)  # a stable JSON form, so equal specs share one cache entry


class Filters(FilterSpec):
    """Which items a request may return (a `FilterSpec`)."""

    model_config = STRICT

    # Duplicates are harmless: documented as a plain array, read into a set.
    reconsumable_event_types: Annotated[
        frozenset[str], WithJsonSchema({"type": "array", "items": {"type": "string"}})
    ] = Field(
        frozenset(),
        strict=False,
        description=FilterSpec.model_fields["reconsumable_event_types"].description,
    )
