"""The online A/B test over HTTP: started and stopped through the admin API, lists tagged
with their arm, a user's arm stable across requests, bad input named, the comparison read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from attune.engine.engine import assign_arm
from attune.learning.registry import ModelRegistry
from attune.server.app import create_app
from attune.server.settings import ServerSettings


def _serve(app: Any, body: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def run() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await body(client)

    asyncio.run(run())


def test_experiment_over_http(ab_files: tuple[Path, ModelRegistry]) -> None:
    db, registry = ab_files
    app = create_app(ServerSettings(db=db, model=registry.root))

    async def body(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/models/experiment")).status_code == 404
        for bad, field, status in (
            ({"challenger": 2, "share": 1.5}, "share", 422),
            ({"challenger": 2, "share": "half"}, "share", 422),
            ({"challenger": 2}, "share", 422),
            ({"challenger": 9, "share": 0.5}, "challenger", 404),
            ({"challenger": 1, "share": 0.5}, "challenger", 409),  # the current version
        ):
            r = await client.put("/v1/models/experiment", json=bad)
            assert r.status_code == status, r.text
            assert r.json()["errors"][0]["field"].endswith(field), r.text
        r = await client.put("/v1/models/experiment", json={"challenger": 2, "share": 0.5})
        assert r.status_code == 200, r.text
        exp = r.json()
        assert (exp["control"], exp["challenger"], exp["stopped"]) == (1, 2, None)
        for n in range(0, 480, 16):
            user = f"u{n}"
            first = (await client.get(f"/v1/users/{user}/recommendations?k=5")).json()
            again = (await client.post(f"/v1/users/{user}/recommendations", json={"k": 5})).json()
            arm = assign_arm(exp["id"], user, 0.5)
            assert first["experiment"] == again["experiment"] == exp["id"]
            assert first["arm"] == again["arm"] == arm
            assert first["model_version"] == (2 if arm == "challenger" else 1)
        compared = (await client.get("/v1/models/experiment/compare")).json()
        lists = {a["arm"]: a["lists"] for a in compared["arms"]}
        assert sum(lists.values()) == 60 and min(lists.values()) > 0
        assert (await client.delete("/v1/models/experiment")).json()["stopped"] is not None
        assert (await client.delete("/v1/models/experiment")).status_code == 404
        after = (await client.get("/v1/users/u0/recommendations")).json()
        assert after["arm"] is None and after["experiment"] is None

    _serve(app, body)
    assert registry.pointer.experiment() is not None  # kept, stopped, for compare
