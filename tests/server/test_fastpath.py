"""The hot routes' fast paths (server/fastpath.py) answer exactly as the declared routes do.

Every request goes to one in-process app twice, fast paths on and off; the answers must be the
same (bar the ids and log positions that differ by construction). The fast path must also be
the one taking the well-formed requests: those never reach FastAPI's dependency solving.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from tests.server.conftest import make_db, make_keys

Request = tuple[str, str, dict[str, str], bytes | None]


def _masked(body: bytes) -> Any:
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if isinstance(doc, dict):
        for volatile in ("recommendation_id", "last_seq"):
            if volatile in doc:
                doc[volatile] = "*"
        for item in doc.get("items", []):  # popularity decays between the two calls
            item["score"] = round(item["score"], 4)
    return doc


def _requests(keys: Any) -> list[tuple[Request, bool]]:
    """(request, whether the fast path should take it)."""
    rec, ing, admin = (
        {"x-api-key": keys.recommend},
        {"x-api-key": keys.ingest},
        {"x-api-key": keys.admin},
    )
    bearer = {"authorization": f"Bearer {keys.recommend}"}
    js = {"content-type": "application/json"}
    event = {"user_id": "fp1", "item_id": "c2-3", "event_type": "view"}
    out: list[tuple[Request, bool]] = [
        (("GET", "/v1/users/u3/recommendations", rec, None), True),
        (("GET", "/v1/users/u3/recommendations?k=5", admin, None), True),
        (("GET", "/v1/users/nobody-yet/recommendations?k=3", rec, None), True),
        (("GET", "/v1/users/a%2Fb%20c/recommendations?k=2", rec, None), True),
        (("GET", "/v1/users/u3/recommendations?k=1000", rec, None), True),
        (("GET", "/v1/users/u3/recommendations?k=1001", rec, None), False),
        (("GET", "/v1/users/u3/recommendations?k=0", rec, None), False),
        (("GET", "/v1/users/u3/recommendations?k=05", rec, None), False),
        (("GET", "/v1/users/u3/recommendations?k=x", rec, None), False),
        (("GET", "/v1/users/u3/recommendations?k=4&include=genre:g1", rec, None), False),
        (("GET", "/v1/users/u3/recommendations?k=4&unknown=1", rec, None), False),
        (("GET", "/v1/users//recommendations", rec, None), False),
        (("GET", "/v1/users/u3/recommendations", {}, None), False),
        (("GET", "/v1/users/u3/recommendations", {"x-api-key": "attune_x_y"}, None), False),
        (("GET", "/v1/users/u3/recommendations", ing, None), False),
        (("GET", "/v1/users/u3/recommendations", bearer, None), False),
        (("POST", "/v1/events", {**ing, **js}, json.dumps(event).encode()), True),
        (("POST", "/v1/events", {**admin, **js}, json.dumps([event, event]).encode()), True),
        (
            (
                "POST",
                "/v1/events",
                {**ing, "content-type": "application/json; charset=utf-8"},
                json.dumps(event).encode(),
            ),
            True,
        ),
        (
            (
                "POST",
                "/v1/events",
                {**ing, **js},
                json.dumps([event, {**event, "event_type": "teleport"}]).encode(),
            ),
            True,
        ),
        (
            (
                "POST",
                "/v1/events",
                {**ing, **js},
                json.dumps({**event, "event_type": "teleport"}).encode(),
            ),
            True,
        ),
        (
            ("POST", "/v1/events", {**ing, **js}, json.dumps({**event, "user_id": 3}).encode()),
            False,
        ),
        (("POST", "/v1/events", {**ing, **js}, json.dumps([]).encode()), False),
        (("POST", "/v1/events", {**ing, **js}, json.dumps([event] * 1001).encode()), False),
        (("POST", "/v1/events", {**ing, **js}, b'{"user_id": "fp1", "item_id": '), False),
        (
            (
                "POST",
                "/v1/events",
                {**ing, **js},
                b'{"user_id": "fp1", "item_id": "c1-1", "value": NaN}',
            ),
            False,
        ),
        (("POST", "/v1/events", {**ing, **js}, b"null"), False),
        (("POST", "/v1/events", {**ing, **js}, b""), False),
        (
            (
                "POST",
                "/v1/events",
                {**ing, "content-type": "text/plain"},
                json.dumps(event).encode(),
            ),
            False,
        ),
        (("POST", "/v1/events", ing, json.dumps(event).encode()), False),
        (("POST", "/v1/events", {**rec, **js}, json.dumps(event).encode()), False),
        (("POST", "/v1/events", js, json.dumps(event).encode()), False),
    ]
    return out


def test_fast_paths_answer_as_the_declared_routes(
    trained: tuple[Dataset, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, model = make_db(trained, tmp_path)
    keys = make_keys(db)
    app = create_app(ServerSettings(db=db, model=model))
    solved = 0
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal solved
        solved += 1
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)

    async def run() -> None:
        nonlocal solved
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for (method, url, headers, body), fast in _requests(keys):
                    answers = []
                    for on in (True, False):
                        app.state.fast_paths = on
                        solved = 0
                        r = await client.request(method, url, headers=headers, content=body)
                        kind = r.headers.get("content-type")
                        answers.append((r.status_code, kind, _masked(r.content)))
                        if on and fast:  # (a refused body fails before any solving too)
                            assert solved == 0, (method, url, headers, body, r.text)
                    assert answers[0] == answers[1], (method, url, answers)

    asyncio.run(run())
