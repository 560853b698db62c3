"""Misspelt input is refused, not ignored: an unknown query parameter, an unknown body field and
a filter rule on an attribute field no item has each get a 422 naming it and listing the known
names (the same app in process, through its ASGI interface)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from tests.server.conftest import make_db, make_keys
from tests.server.test_hardening import _serve

REC = "/v1/users/u7/recommendations"


def _problem(r: httpx.Response, status: int = 422) -> dict[str, str]:
    """The one field error of a problem document, as {field: message}."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return {e["field"]: e["message"] for e in r.json()["errors"]}


async def _check(client: httpx.AsyncClient, key: dict[str, str]) -> int:
    # A parameter the route does not declare, beside declared ones and alone.
    errors = _problem(await client.get(REC + "?k=3&limt=5&genre=g1", headers=key))
    assert set(errors) == {"limt", "genre"}
    known = "known: diversity, exclude, exclude_items, explore, include, k"
    assert errors["limt"] == f"unknown query parameter; {known}"
    assert _problem(await client.post(REC + "?k=3", json={}, headers=key)) == {
        "k": "unknown query parameter; known: none"
    }
    assert set(_problem(await client.get("/v1/stats?windo=10", headers=key))) == {"windo"}
    assert set(_problem(await client.get("/v1/stats?=10", headers=key))) == {"query"}
    assert "known: id" in _problem(await client.get("/v1/items?ids=c0-1", headers=key))["ids"]
    similar = await client.get("/v1/items/c0-1/similar?k=2&n=3", headers=key)
    assert set(_problem(similar)) == {"n"}
    explained = await client.get("/v1/users/u7/explanations?item=c0-1&why=1", headers=key)
    assert set(_problem(explained)) == {"why"}
    assert (await client.get(REC + "?k=3&limt=5")).status_code == 401  # the key comes first

    # A rule on an attribute field no item has would keep nothing (or drop nothing).
    errors = _problem(await client.get(REC + "?include=genra:g1", headers=key))
    assert errors == {"include": "'genra': no item has this attribute field; known: genre"}
    errors = _problem(await client.get(REC + "?exclude=colour:red", headers=key))
    assert set(errors) == {"exclude"} and "'colour'" in errors["exclude"]
    body: dict[str, Any] = {"filters": {"include": {"genre": ["g1"], "genra": ["g2"]}}}
    errors = _problem(await client.post(REC, json=body, headers=key))
    assert errors == {"filters.include.genra": "no item has this attribute field; known: genre"}
    kept = await client.get(REC + "?k=4&include=genre:g1", headers=key)
    assert kept.status_code == 200 and {i["item_id"][:2] for i in kept.json()["items"]} == {"c1"}

    # A body field the model lacks names the fields it has.
    errors = _problem(await client.post(REC, json={"filters": {"exlude": {}}}, headers=key))
    assert list(errors) == ["filters.exlude"]
    assert errors["filters.exlude"].startswith("unknown field; known: exclude, exclude_items,")
    errors = _problem(await client.post(REC, json={"k": 3, "diversty": 0.5}, headers=key))
    assert errors == {"diversty": "unknown field; known: diversity, explore, filters, k"}
    return (await client.get(REC + "?k=3", headers=key)).status_code


def test_unknown_names_are_refused_with_the_known_ones(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    keys = make_keys(db)
    app = create_app(ServerSettings(db=db, model=model))
    key = {"x-api-key": keys.admin}
    assert _serve(app, lambda client: _check(client, key)) == 200  # the right names still work
