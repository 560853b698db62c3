"""Schemathesis hooks for the fuzz part of `bench/hardening.py` (and the API's schemathesis
test): one check narrowed, for the one thing JSON Schema cannot say.

`positive_data_acceptance` expects every request the schema allows to be taken. The schema
cannot bound a time by the clock, so a single event timestamped more than the engine's
`max_future_seconds` ahead is schema-valid and refused (422; in a batch it is rejected on its
own and the rest taken, 200); nor can it name the attribute fields the catalogue's items
have, so a filter rule on another field is schema-valid and refused (422).
`positive_data_acceptance_now` is the built-in check, except that a 422 whose every error is
one of those is accepted. Registered for the CLI by
`SCHEMATHESIS_HOOKS=fuzz_hooks`, which then runs with `--exclude-checks
positive_data_acceptance,negative_data_rejection`.

`negative_data_rejection` expects every request the schema forbids to be refused. Schemathesis
counts any value as violating a `format` it has a generator for but cannot check, such as
`attune-id` below, an annotation whose pattern beside it is the rule. So
`negative_data_rejection_by_pattern` is the built-in check, except for requests whose only
changes are to `format` (ids that break the pattern are still sent, as `pattern` changes).

Also a generator for the `attune-id` string format (see `_ids`): hypothesis builds a
strategy from a regex class character by character, which for the id pattern's class of all
printable characters takes seconds per use; values from the format are filtered by the pattern.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from attune.ranking import UNKNOWN_FIELD
from attune.schemas.records import ID_FORMAT

FUTURE = "s in the future"
"""The end of the engine's message for a timestamp beyond `max_future_seconds`."""


def refused_only_for_the_clock(response: Any) -> bool:
    """Whether `response` is a 422 naming only timestamps too far in the future, or filter
    rules on attribute fields no item has (what the data, not the schema, decides)."""
    if response.status_code != 422:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and all(
        (e.get("field", "").endswith("timestamp") and e.get("message", "").endswith(FUTURE))
        or UNKNOWN_FIELD in e.get("message", "")
        for e in errors
    )


def only_format_changed(case: Any) -> bool:
    """Whether a negative case was made by changing nothing but `format` keywords."""
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    mutations = getattr(data, "mutations", ())
    return bool(mutations) and all(set(m.keywords) <= {"format"} for m in mutations)


@schemathesis.check
def negative_data_rejection_by_pattern(ctx: Any, response: Any, case: Any) -> bool | None:
    """`negative_data_rejection`, but for `format`-only changes (see the module)."""
    if only_format_changed(case):
        return None
    return negative_data_rejection(ctx, response, case)


@schemathesis.check
def positive_data_acceptance_now(ctx: Any, response: Any, case: Any) -> bool | None:
    """`positive_data_acceptance`, but for timestamps in the future and filter fields no
    item has (see the module)."""
    if refused_only_for_the_clock(response):
        return None
    return positive_data_acceptance(ctx, response, case)


def _ids() -> Any:
    """Ids the way `check_id` reads them, drawn fast: white space, printable characters (the
    Unicode categories `str.isprintable` admits: letters, marks, numbers, punctuation,
    symbols, and the space), white space. Schemathesis keeps those the id pattern matches."""
    from hypothesis import strategies as st

    space = [c for c in map(chr, range(0x110000)) if c.isspace()]  # what `str.strip` removes
    printable = st.characters(categories=["L", "M", "N", "P", "S"]) | st.just(" ")
    padding = st.text(st.sampled_from(space), max_size=3)
    core = st.text(printable, min_size=1, max_size=40)
    return st.tuples(padding, core, padding).map("".join)


schemathesis.openapi.format(ID_FORMAT, _ids())
