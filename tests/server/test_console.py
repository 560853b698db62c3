"""What the web console reads: the traffic timeline, `/v1/stats`, the user and item directory,
evaluation reports, and the pages with their config (the browser itself: test_console_browser)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from attune.client import APIError, Client
from attune.data.dataset import Dataset
from attune.data.events import DEFAULT_EVENT_TYPES
from attune.server import reports
from attune.server.app import create_app
from attune.server.console import _routes as console_routes
from attune.server.settings import ServerSettings
from attune.server.timeline import Timeline
from tests.server.conftest import Keys, Server, make_db, make_keys

Served = tuple[Server, Keys]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_timeline_reports_complete_seconds_with_quiet_ones_as_zero() -> None:
    clock = FakeClock(1000.2)
    timeline = Timeline(span=10, clock=clock)
    timeline.events(3)
    for ms in (1, 2, 3, 100):
        timeline.recommended(ms / 1000)
    clock.now = 1002.5
    timeline.events(5)  # the second in progress: not reported yet
    points = timeline.points(3)
    assert [p.time for p in points] == [999, 1000, 1001]
    assert [p.events for p in points] == [0, 3, 0]
    assert [p.recommendations for p in points] == [0, 4, 0]
    assert points[1].p50_ms == pytest.approx(2.5) and 90 < (points[1].p99_ms or 0) <= 100
    assert points[0].p50_ms is None and points[2].p99_ms is None
    summary = timeline.summary(3)
    assert summary.events_per_s == pytest.approx(1.0) and summary.p50_ms == pytest.approx(2.5)


def test_the_timeline_forgets_old_seconds_and_bounds_its_sample() -> None:
    clock = FakeClock(50.0)
    timeline = Timeline(span=5, samples_per_second=8, clock=clock)
    for _ in range(1000):
        timeline.recommended(0.010)
    timeline.recommended(5.0)  # one slow list among many: kept or not, the count is exact
    clock.now = 51.0
    [point] = timeline.points(1)
    assert point.recommendations == 1001 and point.p50_ms == pytest.approx(10.0)
    clock.now = 50.0 + 5  # the same ring slot, five seconds later: the old second is gone
    timeline.events(1)
    clock.now = 56.0
    assert [p.recommendations for p in timeline.points(4)] == [0, 0, 0, 0]
    assert timeline.points(1)[0].events == 1


@pytest.fixture
def admin(keyed_server: Served) -> Client:
    server, keys = keyed_server
    return Client(server.url, api_key=keys.admin)


def test_stats_follow_events_and_recommendations(admin: Client) -> None:
    before = admin.stats(window=5)
    for j in range(3):
        admin.ingest({"user_id": "u301", "item_id": f"c2-{j}", "event_type": "click"})
        admin.recommend("u301", k=5)
    time.sleep(1.05)  # the timeline reports complete seconds only
    after = admin.stats(window=5)
    assert after.events == before.events + 3
    assert (after.users, after.items) == (before.users, before.items)
    assert sum(p.events for p in after.series) >= 3 and len(after.series) == 5
    assert sum(p.recommendations for p in after.series) >= 3
    assert after.recommend_p50_ms is not None and after.recommend_p99_ms is not None
    assert 0 < after.recommend_p50_ms <= after.recommend_p99_ms
    with pytest.raises(APIError) as err:
        admin.stats(window=100_000)
    assert err.value.status == 422 and err.value.fields == ["window"]


def test_users_are_found_by_id_prefix(admin: Client) -> None:
    found = admin.users("u30", limit=3)
    ids = [u.user_id for u in found.users]
    assert ids[0] == "u30" and len(ids) == 3 and found.more
    assert all(i.startswith("u30") for i in ids)
    first = found.users[0]
    assert first.history > 0 and first.attributes == {"segment": "s2"}  # 30 % 4
    assert admin.users("nobody").users == []
    assert not admin.users("u479").more
    with pytest.raises(APIError) as err:
        admin.users("u", limit=1000)
    assert err.value.status == 422 and err.value.fields == ["limit"]


def test_items_are_described_in_the_order_asked(admin: Client) -> None:
    found = admin.items(["c1-2", "no-such-item", "c0-0"]).items
    assert [i.item_id for i in found] == ["c1-2", "no-such-item", "c0-0"]
    assert found[0].known and found[0].title == "Item 2 of genre g1"
    assert found[0].attributes["genre"] == "g1"
    assert not found[1].known and found[1].title is None and found[1].attributes == {}


def _report(folder: Path, name: str, metrics: dict[str, object], age_s: float) -> None:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"metrics": metrics, "command": f"python bench/{name}.py"}))
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def test_the_newest_report_is_read_with_its_plots(tmp_path: Path) -> None:
    assert reports.latest(tmp_path / "missing") is None
    _report(tmp_path, "ann", {"recall": 0.9}, age_s=100)
    _report(tmp_path, "stream", {"ndcg@10": 0.31, "label": "text", "bad": float("nan")}, age_s=10)
    (tmp_path / "settings.json").write_text('{"not": "a report"}')  # newest, but no metrics
    for name in ("stream_ndcg.png", "stream.png", "ann_curve.png", ".stream_hidden.png"):
        (tmp_path / name).write_bytes(b"\x89PNG")
    report = reports.latest(tmp_path)
    assert report is not None and report.name == "stream"
    assert report.metrics == {"ndcg@10": 0.31}  # numbers only: text and NaN are left out
    assert report.plots == ["stream.png", "stream_ndcg.png"]
    assert report.command == "python bench/stream.py" and report.date is None
    assert reports.plot(tmp_path, "stream.png") == tmp_path / "stream.png"
    for bad in ("../stream.png", "stream.json", ".stream_hidden.png", "absent.png"):
        assert reports.plot(tmp_path, bad) is None


def test_without_the_chart_library_the_console_still_serves(
    trained: tuple[Dataset, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python-only install (no `make install` build of ui/): pages load, charts are off."""
    monkeypatch.setattr(console_routes, "CHART_LIB", tmp_path / "absent" / "chart.umd.min.js")
    db, model = make_db(trained, tmp_path / "data")
    app = create_app(ServerSettings(db=db, model=model))

    async def visit() -> None:
        async with _asgi(app) as http:
            assert (await http.get("/ui/config.json")).json()["charts"] is False
            assert (await http.get("/ui/dashboard")).status_code == 200

    asyncio.run(visit())


def _asgi(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def test_pages_config_and_reports_without_a_browser(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """Served in-process (no lifespan, so no engine): the pages load only local files, the
    config says whether to ask for a key, and the report panel reads `report_dir`."""
    db, model = make_db(trained, tmp_path / "data")
    folder = tmp_path / "reports"
    folder.mkdir()
    _report(folder, "stream", {"ndcg@10": 0.31}, age_s=1)
    (folder / "stream_curve.png").write_bytes(b"\x89PNG-bytes")
    app = create_app(ServerSettings(db=db, model=model, report_dir=folder))

    async def visit() -> None:
        async with _asgi(app) as http:
            config = (await http.get("/ui/config.json")).json()
            assert config["auth"] is False
            # A panel is on when its endpoint answers (here 503: no engine without lifespan).
            feedback_served = (await http.get("/v1/feedback")).status_code != 404
            assert config["features"] == {
                "models": False,  # a single checkpoint, not a registry
                "feedback": feedback_served,
                "report": True,
            }
            # Every event type, add_to_cart included (no engine without lifespan: the defaults).
            assert config["event_types"] == list(DEFAULT_EVENT_TYPES)
            assert "add_to_cart" in config["event_types"]
            negative = ["skip", "dislike", "not_interested", "hide"]
            assert config["negative_event_types"] == negative
            assert (await http.get("/ui")).headers["location"] == "/ui/"
            for page in ("/ui/", "/ui/dashboard"):
                r = await http.get(page)
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
                assert "default-src 'self'" in r.headers["content-security-policy"]
                assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
                assert "/ui/static/console.css" in assets
                for asset in assets:
                    assert not re.match(r"^(\w+:|//)", asset), f"{page} loads {asset}"
                    if asset.startswith("/ui/static/"):
                        assert (await http.get(asset)).status_code == 200, asset
            for script in ("console.js", "playground.js", "dashboard.js"):
                assert (await http.get(f"/ui/static/{script}")).status_code == 200
            report = (await http.get("/v1/reports/latest")).json()
            assert report["name"] == "stream" and report["plots"] == ["stream_curve.png"]
            plot = await http.get("/v1/reports/plots/stream_curve.png")
            assert plot.content == b"\x89PNG-bytes" and plot.headers["content-type"] == "image/png"
            escape = await http.get("/v1/reports/plots/..%2Fdata%2Fattune.db")
            assert escape.status_code == 404
            assert "/v1/stats" in (await http.get("/openapi.json")).json()["paths"]
            me = (await http.get("/v1/keys/me")).json()  # no keys: loopback may do anything
            assert me == {"auth": False, "id": None, "name": "", "scopes": sorted(me["scopes"]),
                          "admin": True} and "admin" in me["scopes"]  # fmt: skip

    asyncio.run(visit())
    keys = make_keys(db)  # with keys the pages ask for one (and data calls need it)
    keyed = create_app(ServerSettings(db=db, model=model))

    async def keyed_visit() -> None:
        async with _asgi(keyed) as http:
            config = (await http.get("/ui/config.json")).json()
            assert config["auth"] is True and config["features"]["report"] is False
            assert (await http.get("/ui/")).status_code == 200  # the page itself is public
            assert (await http.get("/v1/reports/latest")).status_code == 401
            # The console's login asks what a key may do, and lets only admin keys in.
            assert (await http.get("/v1/keys/me")).status_code == 401
            bad = await http.get("/v1/keys/me", headers={"X-API-Key": "attune_x_y"})
            assert bad.status_code == 401
            for key, scopes, is_admin in [
                (keys.recommend, ["recommend"], False),
                (keys.ingest, ["ingest"], False),
                (keys.admin, ["admin"], True),
            ]:
                me = await http.get("/v1/keys/me", headers={"Authorization": f"Bearer {key}"})
                body = me.json()
                assert me.status_code == 200 and body["auth"] is True, body
                assert body["scopes"] == scopes and body["admin"] is is_admin
                assert key.startswith(f"attune_{body['id']}_") and key not in me.text

    asyncio.run(keyed_visit())
