"""The OpenAPI document says what the validators say: the id pattern and the time grammar
agree with `check_id` and `parse_instant` on any text, and the document carries this
server's input limits and rate-limited routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from attune.data.dataset import Dataset
from attune.schemas.patterns import compiled, id_pattern
from attune.schemas.records import MAX_ID_LENGTH, check_id
from attune.schemas.request import MAX_SECONDS, instant_pattern, parse_instant
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from tests.server.conftest import make_db

ID = compiled(id_pattern())
INSTANT = compiled(instant_pattern())
TRICKY = [
    "",
    " ",
    ".",
    "..",
    " .. ",
    "...",
    "a b",
    " a ",
    "\x00erased:1",
    "a\tb",
    "\u200b",
    "\ue000",
]


def accepted(check: Any, value: Any) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(st.text(max_size=300), st.sampled_from(TRICKY)))
def test_id_pattern_is_check_id(text: str) -> None:
    in_schema = ID.fullmatch(text) is not None and len(text) <= MAX_ID_LENGTH
    assert in_schema == accepted(check_id, text), repr(text)


TIME_TEXT = st.text(alphabet="0123456789-:.TZ+ \n", max_size=32)
DATES = st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(TIME_TEXT, DATES, st.sampled_from(["2024-02-29", "2023-02-29", "0000-01-01"])))
def test_instant_pattern_is_parse_instant(text: str) -> None:
    assert (INSTANT.fullmatch(text) is not None) == accepted(parse_instant, text), repr(text)


def test_instant_numbers_within_the_declared_range() -> None:
    assert accepted(parse_instant, MAX_SECONDS) and not accepted(parse_instant, MAX_SECONDS + 1)
    assert not accepted(parse_instant, True)


def test_document_carries_this_servers_limits(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    app = create_app(
        ServerSettings(
            db=db,
            model=model,
            input_limits={"map_max_keys": 7, "map_max_depth": 2, "max_string": 999},
            rate_limits={"ingest": {"rate": 5}},
        )
    )
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    context = schemas["Event"]["properties"]["context"]
    assert context["maxProperties"] == 7
    deepest = schemas["MapValue3"]["anyOf"]  # level 3 > map_max_depth: no containers
    assert {c["type"] for c in deepest} == {"string", "number", "boolean", "null"}
    assert schemas["Id"]["pattern"] == id_pattern()
    include = schemas["Filters"]["properties"]["include"]
    assert include["propertyNames"]["maxLength"] == 999
    events = doc["paths"]["/v1/events"]["post"]["responses"]
    similar = doc["paths"]["/v1/items/{item_id}/similar"]["get"]["responses"]
    assert {"401", "403", "413", "422", "429", "500", "503"} <= set(events)
    assert "429" not in similar and "Retry-After" in events["429"]["headers"]
