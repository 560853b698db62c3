"""Rate limits per caller and route class (issue 18, item 6): 429 problems with
`Retry-After`, buckets per key and per address, classes independent of each other, fast paths
limited like the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.rate_limits import SharedWindows, TokenBuckets, caller, route_class
from attune.server.settings import RateLimits, RouteRate, ServerSettings
from tests.server.conftest import Keys, make_db, make_keys

Body = Callable[[Callable[..., httpx.AsyncClient]], Awaitable[Any]]


def serve_in_process(app: Any, body: Body) -> Any:
    """Run `body(client)` against the in-process app with its lifespan; `client(address)` is
    an HTTP client whose requests come from `address`."""

    async def run() -> Any:
        async with app.router.lifespan_context(app):

            def client(address: str = "127.0.0.1") -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 50000))
                return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")

            return await body(client)

    return asyncio.run(run())


def settings_for(trained: tuple[Dataset, Path], tmp_path: Path, **given: Any) -> ServerSettings:
    db, model = make_db(trained, tmp_path)
    return ServerSettings(db=db, model=model, **given)


LIMITS = {
    "ingest": {"rate": "1/minute", "burst": 2},
    "recommend": {"rate": "1/minute", "burst": 2},
}
EVENT = {"user_id": "rl-user", "item_id": "c1-1", "event_type": "click"}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


# -- where a request belongs, and whose bucket it takes from -----------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/events", "ingest"),
        ("PUT", "/v1/items", "ingest"),
        ("PUT", "/v1/items/i/1", "ingest"),
        ("PUT", "/v1/users/a/recommendations", "ingest"),  # the user "a/recommendations"
        ("GET", "/v1/users/u1/recommendations", "recommend"),
        ("POST", "/v1/users/u1/recommendations", "recommend"),
        ("GET", "/v1/users/u1/explanations", "recommend"),
        ("GET", "/v1/users/u1/history", "recommend"),
        ("HEAD", "/v1/users/u1/history", "recommend"),
        ("GET", "/v1/items/i1/similar", "recommend"),
        ("DELETE", "/v1/users/u1", "admin"),
        ("DELETE", "/v1/users/u1/history", "admin"),
        ("GET", "/v1/users", "admin"),
        ("GET", "/v1/items", "admin"),
        ("GET", "/v1/events", "admin"),
        ("GET", "/v1/models", "admin"),
        ("GET", "/v1/keys/me", "admin"),
        ("GET", "/v1/stats", "admin"),
        ("GET", "/v1/nothing-here", "admin"),
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        ("GET", "/metrics", None),
        ("GET", "/docs", None),
        ("GET", "/openapi.json", None),
        ("GET", "/ui/dashboard", None),
        ("GET", "/v1", None),
    ],
)
def test_route_classes(method: str, path: str, expected: str | None) -> None:
    assert route_class(method, path) == expected


def test_the_caller_is_a_valid_keys_id_else_the_address(tmp_path: Path) -> None:
    from attune.server.security import ApiScope, open_key_ring

    ring = open_key_ring(tmp_path / "x.db", tmp_path / "keys.json")
    key, record = ring.create({ApiScope.RECOMMEND})

    def scope(headers: list[tuple[bytes, bytes]], host: str = "10.1.2.3") -> dict[str, Any]:
        return {"headers": headers, "client": (host, 1234)}

    assert caller(scope([(b"x-api-key", key.encode())]), ring) == f"key:{record.id}"
    assert caller(scope([(b"authorization", b"Bearer " + key.encode())]), ring) == (
        f"key:{record.id}"
    )
    forged = key[:-4] + "AAAA"  # a known id with a wrong secret is nobody's key
    assert caller(scope([(b"x-api-key", forged.encode())]), ring) == "addr:10.1.2.3"
    assert caller(scope([]), ring) == "addr:10.1.2.3"
    # IPv6 hosts by their /64: one host's many addresses share a bucket.
    assert caller(scope([], "2001:db8::1"), ring) == caller(scope([], "2001:db8:0:0:ff::2"), ring)
    assert caller(scope([], "2001:db8::1"), ring) != caller(scope([], "2001:db8:0:1::1"), ring)
    assert caller({"headers": [], "client": None}, ring) == "addr:local"


# -- the buckets ---------------------------------------------------------------------------------


def test_a_token_bucket_gives_its_burst_then_its_rate() -> None:
    now = [100.0]
    buckets = TokenBuckets({"ingest": RouteRate(rate=2.0, burst=3)}, clock=lambda: now[0])
    assert [buckets.take_now("ingest", "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take_now("ingest", "a") == pytest.approx(0.5)  # a token every 0.5 s
    assert buckets.take_now("ingest", "b") == 0.0  # another caller, another bucket
    now[0] += 0.5
    assert buckets.take_now("ingest", "a") == 0.0
    assert buckets.take_now("ingest", "a") > 0.0
    now[0] += 60.0  # refilled to the burst, not beyond
    assert [buckets.take_now("ingest", "a") for _ in range(4)][-1] > 0.0


def test_full_buckets_are_swept_so_a_flood_of_addresses_cannot_grow_memory() -> None:
    now = [0.0]
    buckets = TokenBuckets({"admin": RouteRate(rate=100.0)}, clock=lambda: now[0])
    for n in range(10_000):
        now[0] += 0.001
        buckets.take_now("admin", f"addr:{n}")
    assert len(buckets) < 4096 + 200  # only the last ~1 s of callers are still refilling


def test_shared_windows_through_the_limits_library() -> None:
    """The shared-storage path, over `limits`' own in-memory storage (Redis takes its URI)."""
    windows = SharedWindows("memory://", {"recommend": RouteRate(rate="2/second", burst=4)})

    async def run() -> list[float]:
        return [await windows.take("recommend", who) for who in ("a",) * 5 + ("b",)]

    waits = asyncio.run(run())
    assert waits[:4] == [0.0] * 4 and waits[5] == 0.0
    assert 0.0 < waits[4] <= 2.0


def test_rate_settings_take_the_limits_notation_and_check_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert RouteRate(rate="120/minute").rate == 2.0
    assert RouteRate(rate="120/minute").capacity == 2
    assert RouteRate(rate="100 per 10 seconds", burst=50).capacity == 50
    assert RouteRate(rate=0.25).capacity == 1
    with pytest.raises(ValidationError, match="is not a rate"):
        RouteRate(rate="fast")
    with pytest.raises(ValidationError):
        RouteRate(rate=0)
    assert RateLimits().classes == {}  # off by default
    with pytest.raises(ValidationError):
        RateLimits(storage="redis")  # not a URI
    db, model = tmp_path / "x.db", tmp_path / "model"
    db.touch()
    model.mkdir()
    monkeypatch.setenv("ATTUNE_RATE_LIMITS__ADMIN__RATE", "5/second")
    monkeypatch.setenv("ATTUNE_REQUEST_TIMEOUT_S", "2.5")
    settings = ServerSettings(db=db, model=model)
    assert settings.rate_limits.classes == {"admin": RouteRate(rate=5.0)}
    assert settings.request_timeout_s == 2.5


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def limited(trained: tuple[Dataset, Path], tmp_path: Path) -> tuple[Any, Keys]:
    settings = settings_for(trained, tmp_path, rate_limits=LIMITS)
    keys = make_keys(settings.db)
    return create_app(settings), keys


def test_an_empty_bucket_gets_429_with_retry_after_per_key_and_per_class(
    limited: tuple[Any, Keys],
) -> None:
    app, keys = limited

    async def body(client: Callable[..., httpx.AsyncClient]) -> None:
        async with client() as c:
            a = {"x-api-key": keys.admin}
            b = {"authorization": f"Bearer {keys.recommend}"}
            for _ in range(2):  # the burst, through the fast path (X-API-Key, plain k)
                assert (await c.get("/v1/users/u1/recommendations?k=3", headers=a)).is_success
            refused = await c.get("/v1/users/u1/history", headers=a)
            refusal = problem(refused, 429)
            assert "recommend" in refusal["detail"]
            assert int(refused.headers["retry-after"]) >= 1  # 1 token a minute: up to 60 s
            assert int(refused.headers["retry-after"]) <= 60
            # Another key is another bucket; another class is another bucket.
            assert (await c.get("/v1/users/u1/history", headers=b)).status_code == 200
            assert (await c.post("/v1/events", json=EVENT, headers=a)).status_code == 200
            assert (
                await c.post("/v1/users/u1/recommendations", json={}, headers=a)
            ).status_code == 429
            # Unlimited: admin routes here (no admin bucket configured), health, metrics.
            for _ in range(5):
                assert (await c.get("/v1/keys/me", headers=a)).status_code == 200
                assert (await c.get("/healthz")).status_code == 200
            metrics = (await c.get("/metrics")).text
            assert 'attune_rate_limited_total{route_class="recommend"} 2.0' in metrics
            assert 'attune_rate_limited_total{route_class="ingest"} 0.0' in metrics

    serve_in_process(app, body)


def test_without_keys_each_loopback_address_has_its_own_bucket(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    app = create_app(settings_for(trained, tmp_path, rate_limits=LIMITS))

    async def body(client: Callable[..., httpx.AsyncClient]) -> None:
        async with client("127.0.0.1") as one, client("127.0.0.2") as two:
            codes = [(await one.post("/v1/events", json=EVENT)).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            assert (await two.post("/v1/events", json=EVENT)).status_code == 200
            # A made-up key changes nothing: the bucket is still the address's.
            forged = {"x-api-key": "attune_00000000_made-up"}
            assert (await one.post("/v1/events", json=EVENT, headers=forged)).status_code == 429

    serve_in_process(app, body)
