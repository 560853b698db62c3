"""Ids and authentication under hostile callers (issue 18, defects 3, 4 and part of 7): one id
rule at every entry point, erasure that no id can block, ids with `/` that never split into
routes, authentication that stays on when the last key goes, 401/403 before any validation
error, and one server lock per database whatever path names it.

The behaviour tests use only interfaces that existed before this work (the app, the CLI, the
key ring's `create`/`revoke`, `DatabaseLock`), so they also run, and fail, on the code before
it (commit 8ad76a5).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.lock import DatabaseInUseError, DatabaseLock
from attune.server.settings import ServerSettings
from tests.server.conftest import Keys, make_db, make_keys

LOOPBACK = "http://127.0.0.1"
"""Base URL of the in-process client: a loopback server address, where a server without
authentication would admit anyone."""


def _serve(app: Any, body: Callable[[httpx.AsyncClient], Any]) -> Any:
    """Run `body(client)` against the in-process app with its lifespan."""

    async def run() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
                return await body(client)

    return asyncio.run(run())


@pytest.fixture
def served(trained: tuple[Dataset, Path], tmp_path: Path) -> tuple[Any, Keys, Path]:
    db, model = make_db(trained, tmp_path)
    keys = make_keys(db)
    return create_app(ServerSettings(db=db, model=model)), keys, db


def _user(users: str, encoded_id: str, tail: str = "") -> str:
    return f"/v1/{users}/{encoded_id}{tail}"


# -- defect 3: the erasure marker is not an id, and erasure never fails ---------------------


def test_an_ingest_key_cannot_create_a_user_named_like_a_tombstone(
    served: tuple[Any, Keys, Path],
) -> None:
    app, keys, _ = served
    ingest, admin = {"x-api-key": keys.ingest}, {"x-api-key": keys.admin}
    # Every tombstone the next erasures could make: `\x00erased:<index>` for each index the
    # store may give (the dataset's users, the victims, and some to spare).
    squatters = [{"user_id": f"\x00erased:{n}", "item_id": "c0-1"} for n in range(1000)]

    async def body(client: httpx.AsyncClient) -> list[httpx.Response]:
        victims = [
            await client.post("/v1/events", json={"user_id": v, "item_id": "c0-1"}, headers=ingest)
            for v in ("victim-1", "victim-2")
        ]
        squat = await client.post("/v1/events", json=squatters, headers=ingest)
        one = await client.post("/v1/events", json=squatters[7], headers=ingest)
        put = await client.put(
            "/v1/users/" + quote("\x00erased:7", safe=""), json={"attributes": {}}, headers=ingest
        )
        erased = [await client.delete(f"/v1/users/{v}", headers=admin) for v in ("victim-1",)]
        erased.append(await client.delete("/v1/users/victim-2", headers=admin))
        return [*victims, squat, one, put, *erased]

    *victims, squat, one, put, first, second = _serve(app, body)
    assert [v.status_code for v in victims] == [200, 200]
    for refused in (squat, one, put):
        assert refused.status_code == 422, refused.text
        assert "user_id" in refused.text
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["events"] == 1


def _hostile_ids(count: int, seed: int = 18) -> list[str]:
    """Ids of every awkward kind: control and format characters, separators, `/`, `%`, dots,
    NUL markers, surrogates, long and empty ones, white space around."""
    rng = random.Random(seed)
    pieces = [
        "a", "Z", "7", " ", "/", "%", "%2F", ".", "..", "?", "#", "&", "=", "+", ":", "\\",
        "\x00", "\x00erased:1", "\t", "\n", "\r", "\x1f", "\x7f", "\x85", "\u00a0", "\u200b",
        "\u200d", "\u2028", "\u202e", "\ufeff", "\ud800", "\U0001f600", "é", "ß", "日本",
        "history", "recommendations", "a" * 300,
    ]  # fmt: skip
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) for _ in range(count)] + [
        "/",
        "//",
        "a/",
        "/a",
        "1/history",
        "x/recommendations",
        ".",
        "..",
        "%",
        "%2F",
    ]


def test_every_id_an_event_may_carry_can_be_read_and_erased(
    served: tuple[Any, Keys, Path],
) -> None:
    """Fuzz: each id is sent in an event; an accepted one must then answer its history (200)
    and its erasure (200, naming the id), and never a 5xx; a refused one must be a 422."""
    app, keys, _ = served
    admin = {"x-api-key": keys.admin}
    json_admin = {**admin, "content-type": "application/json"}
    ids = _hostile_ids(150)

    async def body(client: httpx.AsyncClient) -> list[tuple[str, int, int, int, Any]]:
        seen = []
        for user_id in ids:
            event = json.dumps({"user_id": user_id, "item_id": "c0-1"})  # surrogates escaped
            sent = await client.post("/v1/events", content=event, headers=json_admin)
            if sent.status_code != 200:
                seen.append((user_id, sent.status_code, 0, 0, None))
                continue
            stored = user_id.strip()
            path = quote(stored, safe="")
            history = await client.get(f"/v1/users/{path}/history", headers=admin)
            erased = await client.delete(f"/v1/users/{path}", headers=admin)
            who = erased.json().get("user_id") if erased.status_code == 200 else erased.text
            seen.append((user_id, 200, history.status_code, erased.status_code, who))
        return seen

    results = _serve(app, body)
    accepted = [r for r in results if r[1] == 200]
    assert len(accepted) >= 30  # the fuzz reaches the routes, not only the validation
    for user_id, sent, history, erased, who in results:
        assert sent in (200, 422), (user_id, sent)
        if sent == 200:
            assert (history, erased) == (200, 200), (user_id, history, erased, who)
            assert who == user_id.strip()


# -- part of 7: ids with `/` are addressable, and a literal `/` never makes an id -----------


def test_a_literal_slash_never_splits_into_an_id(served: tuple[Any, Keys, Path]) -> None:
    app, keys, _ = served
    admin = {"x-api-key": keys.admin}

    async def body(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        out = {
            "put_literal": await client.put(
                "/v1/users/1/history", json={"attributes": {"band": "x"}}, headers=admin
            ),
            "put_item_literal": await client.put(
                "/v1/items/c0-1/similar", json={"attributes": {}}, headers=admin
            ),
            "lookup": await client.get("/v1/users", params={"prefix": "1/history"}, headers=admin),
            "put_encoded": await client.put(
                "/v1/users/a%2Fb", json={"attributes": {"band": "y"}}, headers=admin
            ),
            "event": await client.post(
                "/v1/events", json={"user_id": "a/b", "item_id": "c0-1"}, headers=admin
            ),
            "history": await client.get("/v1/users/a%2Fb/history", headers=admin),
            "recs": await client.get("/v1/users/a%2Fb/recommendations?k=3", headers=admin),
            "tricky": await client.put(
                "/v1/users/x%2Fhistory", json={"attributes": {}}, headers=admin
            ),
            "tricky_history": await client.get("/v1/users/x%2Fhistory/history", headers=admin),
            "erase": await client.delete("/v1/users/a%2Fb", headers=admin),
        }
        out["lookup_after"] = await client.get("/v1/users", params={"prefix": "1/"}, headers=admin)
        return out

    r = _serve(app, body)
    assert r["put_literal"].status_code in (404, 405), r["put_literal"].text
    assert r["put_item_literal"].status_code in (404, 405), r["put_item_literal"].text
    assert r["lookup_after"].json()["users"] == []  # no user `1/history` was made
    assert r["put_encoded"].status_code == 200
    assert r["event"].status_code == 200
    assert r["history"].status_code == 200
    assert [e["item_id"] for e in r["history"].json()["events"]] == ["c0-1"]
    assert r["history"].json()["user_id"] == "a/b"
    assert r["recs"].status_code == 200
    assert r["tricky"].status_code == 200  # the user `x/history`, not the history of `x`
    assert r["tricky_history"].status_code == 200
    assert r["tricky_history"].json() == {"user_id": "x/history", "events": []}
    assert r["erase"].status_code == 200 and r["erase"].json()["user_id"] == "a/b"


# -- defect 4: revoking the last key leaves authentication on -------------------------------


def test_revoking_the_last_key_leaves_auth_on_until_turned_off(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--db", str(db), "--scope", "admin"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    revoked = runner.invoke(cli, ["keys", "revoke", key_id, "--db", str(db)])
    assert revoked.exit_code == 0, revoked.output

    def calls(headers: dict[str, str]) -> list[int]:
        app = create_app(ServerSettings(db=db, model=model))

        async def body(client: httpx.AsyncClient) -> list[int]:
            return [
                (await client.get("/v1/users/u1/recommendations", headers=headers)).status_code,
                (
                    await client.post(
                        "/v1/events", json={"user_id": "u1", "item_id": "c0-1"}, headers=headers
                    )
                ).status_code,
            ]

        return _serve(app, body)

    assert calls({}) == [401, 401]  # on, and no key works: not the open loopback server
    assert calls({"x-api-key": key}) == [401, 401]

    # Off only when the operator says so, and then only loopback without a key.
    off = runner.invoke(cli, ["keys", "disable-auth", "--db", str(db)])
    assert off.exit_code == 0, off.output
    assert calls({}) == [200, 200]
    again = runner.invoke(cli, ["keys", "create", "--db", str(db), "--scope", "ingest"])
    assert again.exit_code == 0
    assert calls({}) == [401, 401]  # a new key turns it on again
    refused = runner.invoke(cli, ["keys", "disable-auth", "--db", str(db)])
    assert refused.exit_code == 2 and "revoke them first" in refused.output


# -- part of 7: 401/403 precede validation errors -------------------------------------------

_DEEP = '{"a":' * 2000 + "1" + "}" * 2000
BAD_BODIES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/v1/events", b'{"user_id": "u", "item_id": ', {}),  # not JSON
    ("POST", "/v1/events", json.dumps({"user_id": "u"}).encode(), {}),  # a field missing
    ("POST", "/v1/events", _DEEP.encode(), {}),  # over the shape limits
    ("POST", "/v1/events", b'{"user_id": "u", "item_id": "i", "value": NaN}', {}),
    ("POST", "/v1/events", b"[" + b"1," * 200_000 + b"1]", {}),  # too many values
    ("POST", "/v1/events", b"x" * 10, {"content-length": str(10**9)}),  # too large
    ("PUT", "/v1/users/u", b'{"attributes": ' + _DEEP.encode() + b"}", {}),
    ("PUT", "/v1/items/i", b'{"attributes": {"a": NaN}}', {}),
    ("PUT", "/v1/items", b"[]", {}),
    ("POST", "/v1/users/u/recommendations", b'{"k": "ten"}', {}),
]


@pytest.mark.parametrize(("method", "url", "content", "extra"), BAD_BODIES)
def test_auth_errors_precede_validation_errors(
    served: tuple[Any, Keys, Path],
    method: str,
    url: str,
    content: bytes,
    extra: dict[str, str],
) -> None:
    app, keys, _ = served
    json_type = {"content-type": "application/json"}
    # The recommend key lacks the ingest scope; the ingest key lacks recommend.
    wrong_scope = keys.ingest if "recommendations" in url else keys.recommend

    async def body(client: httpx.AsyncClient) -> list[httpx.Response]:
        out = []
        for headers in ({}, {"x-api-key": "attune_00000000_nope"}, {"x-api-key": wrong_scope}):
            sent = {**json_type, **headers}
            if extra:  # a declared length the body does not have: built by hand
                request = client.build_request(method, url, content=content, headers=sent)
                request.headers.update(extra)
                out.append(await client.send(request))
            else:
                out.append(await client.request(method, url, content=content, headers=sent))
        return out

    missing, unknown, scope = _serve(app, body)
    assert (missing.status_code, unknown.status_code, scope.status_code) == (401, 401, 403), (
        missing.text,
        unknown.text,
        scope.text,
    )
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"] == "application/problem+json"


# -- defect 4: one lock per database, whatever path names it --------------------------------


def test_a_symlinked_path_meets_the_same_server_lock(tmp_path: Path) -> None:
    real = tmp_path / "data" / "shop.db"
    real.parent.mkdir()
    real.write_bytes(b"")
    link = tmp_path / "alias.db"
    link.symlink_to(real)
    linked_dir = tmp_path / "linked"
    linked_dir.symlink_to(real.parent)
    with DatabaseLock(real):
        for other in (link, linked_dir / "shop.db", tmp_path / "data" / ".." / "data" / "shop.db"):
            with pytest.raises(DatabaseInUseError):
                DatabaseLock(other).acquire()
    # Released: the alias may take it now, and then the real path may not.
    with DatabaseLock(link), pytest.raises(DatabaseInUseError):
        DatabaseLock(real).acquire()
