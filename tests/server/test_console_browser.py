"""The web console in a real browser: Debian's Chromium (/usr/bin/chromium, which `make test`
installs) driven by Playwright, against a server with API keys (conftest.keyed_server).

One tab signs in once and is shared by the tests, as a product manager would use it; every
test ends by checking that the browser logged no error (failed requests included). The
dashboard's registry and report panels are tried on a second server, started on a model
registry of two versions and a report folder.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attune.client import Client
from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.learning.experiments import start_experiment
from attune.learning.registry import DataWindow, ModelRegistry
from attune.server.console._routes import CHART_LIB
from attune.stores import open_storage
from tests.server.conftest import STOPPED, Keys, Server, make_db, make_keys

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: `make browser` (run by `make test`) installs Debian's chromium",
)


@dataclass
class Console:
    page: Any  # playwright.sync_api.Page
    url: str
    admin: Client
    errors: list[str] = field(default_factory=list)

    def ids(self, selector: str) -> list[str]:
        return list(self.page.eval_on_selector_all(selector, "ns => ns.map(n => n.dataset.itemId)"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module (playwright.sync_api.Browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def open_tab(browser: Any, url: str, admin: Client) -> Console:
    """A new tab whose console errors (failed requests included) are collected."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    ui = Console(page, url, admin)
    page.on("console", lambda m: ui.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: ui.errors.append(str(e)))
    return ui


def sign_in(ui: Console, key: str, path: str = "/ui/") -> None:
    page = ui.page
    page.goto(f"{ui.url}{path}")
    page.wait_for_selector("#login-form")
    assert page.is_hidden("#app")  # keys are configured: nothing shows before signing in
    page.fill("#login-key", key)
    page.press("#login-key", "Enter")
    page.wait_for_selector("#app:not([hidden])")


@pytest.fixture(scope="module")
def console(browser: Any, keyed_server: tuple[Server, Keys]) -> Iterator[Console]:
    server, keys = keyed_server
    ui = open_tab(browser, server.url, Client(server.url, api_key=keys.admin))
    sign_in(ui, keys.admin)
    ui.page.wait_for_selector("#user-results button")
    yield ui
    ui.page.close()


def test_only_an_admin_key_signs_in(browser: Any, keyed_server: tuple[Server, Keys]) -> None:
    server, keys = keyed_server
    ui = open_tab(browser, server.url, Client(server.url, api_key=keys.admin))
    page = ui.page
    try:
        page.goto(f"{server.url}/ui/dashboard")
        page.wait_for_selector("#login-form")
        for key, said in [
            (keys.recommend, "has only the recommend scope"),  # valid, but not an operator's
            (keys.ingest, "has only the ingest scope"),
            ("attune_nope_nope", "This key was refused"),
        ]:
            page.fill("#login-key", key)
            with page.expect_response("**/v1/keys/me"):
                page.press("#login-key", "Enter")
            page.wait_for_selector(f"#login-error:has-text('{said}')")
            assert "admin key" in page.inner_text("#login-error")
            assert page.is_hidden("#app") and page.evaluate("sessionStorage.length") == 0
        page.fill("#login-key", keys.admin)
        page.press("#login-key", "Enter")
        page.wait_for_selector("#app:not([hidden])")
        assert page.inner_text("#login-error") == ""
    finally:
        page.close()
    # The unknown key's 401 is the one error the browser logs, as for any failed request.
    assert [e for e in ui.errors if "401" not in e] == []


def test_a_click_changes_the_list_and_enters_the_history(console: Console) -> None:
    page = console.page
    page.goto(f"{console.url}/ui/")  # signed in already: the key lives in this tab
    page.fill("#user-query", "u333")
    page.press("#user-query", "Enter")
    page.focus('#user-results button[data-user-id="u333"]')  # by keyboard, as the rest
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs li.rec")
    before = console.ids("#recs li.rec")
    assert page.is_checked('input[name="event-type"][value="click"]')
    target = before[2]
    page.focus(f'#recs li.rec[data-item-id="{target}"] .item-act')
    with page.expect_request("**/v1/events") as sent:
        page.keyboard.press("Enter")
    event = json.loads(sent.value.post_data or "{}")
    assert event["event_type"] == "click" and event["item_id"] == target
    assert re.fullmatch(r"[0-9a-f]{32}", event["recommendation_id"])  # click-through needs it
    page.wait_for_selector("#status:has-text('Sent click')")
    after = console.ids("#recs li.rec")
    assert after != before and target not in after  # clicked items are not offered again
    assert page.locator("#recs li.rec.changed, #recs li.rec.new").count() >= 1
    newest = page.locator("#history li").first
    assert newest.get_attribute("data-item-id") == target
    assert newest.get_attribute("data-event-type") == "click"
    title = console.admin.items([target]).items[0].title
    assert title and title in newest.inner_text()  # shown by title, not by id
    assert console.admin.history("u333").events[-1].item_id == target
    assert console.errors == []


def test_the_playground_offers_every_event_type(console: Console) -> None:
    page = console.page
    page.goto(f"{console.url}/ui/")
    page.fill("#user-query", "u336")
    page.press("#user-query", "Enter")
    page.click('#user-results button[data-user-id="u336"]')
    page.wait_for_selector("#recs li.rec")
    offered = page.eval_on_selector_all('input[name="event-type"]', "ns => ns.map(n => n.value)")
    assert offered == EventTypes().names  # the server runs the default event types
    assert page.is_checked('input[name="event-type"][value="click"]')
    page.check('input[name="event-type"][value="add_to_cart"]')
    target = console.ids("#recs li.rec")[0]
    with page.expect_request("**/v1/events") as sent:
        page.click(f'#recs li.rec[data-item-id="{target}"] .item-act')
    assert json.loads(sent.value.post_data or "{}")["event_type"] == "add_to_cart"
    page.wait_for_selector("#status:has-text('Sent add_to_cart')")
    assert console.admin.history("u336").events[-1].event_type == "add_to_cart"
    page.check('input[name="event-type"][value="click"]')  # as the next tests expect
    assert console.errors == []


def test_a_new_user_gets_a_cold_start_list_with_reasons(console: Console) -> None:
    page = console.page
    page.click("#new-user summary")
    page.fill("#new-user-id", "pm-new-user")
    page.fill("#new-user-attrs", "segment=s3")
    page.click("#create-user button[type=submit]")
    page.wait_for_selector("#recs-meta:has-text('cold start by attributes')")
    assert page.locator("#history li.hint").count() == 1  # no history yet
    assert console.admin.users("pm-new-user").users[0].attributes == {"segment": "s3"}
    page.click("#recs li.rec:first-child .why")
    page.wait_for_selector("#why[open]")
    assert "cold-start" in page.inner_text("#why-body")
    page.keyboard.press("Escape")
    page.wait_for_selector("#why", state="hidden")
    assert console.errors == []


def test_the_dashboard_counts_events_as_they_arrive(console: Console) -> None:
    page = console.page
    page.goto(f"{console.url}/ui/dashboard")
    events = "() => Number(document.getElementById('tile-events').dataset.value || -1)"
    page.wait_for_function(f"() => ({events})() >= 0")  # functions: the page's CSP forbids eval
    shown = int(page.get_attribute("#tile-events", "data-value") or 0)
    assert shown == console.admin.stats(window=2).events
    console.admin.ingest({"user_id": "u334", "item_id": "c1-1", "event_type": "view"})
    page.wait_for_function(f"() => ({events})() > {shown}")
    assert page.inner_text("#tile-model") == "1"
    if CHART_LIB.is_file():  # `make install` builds it; a Python-only install shows a notice
        assert page.evaluate("typeof window.Chart") == "function"
        assert page.is_hidden("#charts-notice")
    else:
        assert "make install" in page.inner_text("#charts-notice")
    assert "No model registry" in page.inner_text("#models")
    assert page.locator("#app .error").count() == 0
    assert console.errors == []


def test_the_dashboard_counts_events_that_could_have_named_their_list(console: Console) -> None:
    """An event on an item shown to its user that names no list is counted as one that came
    without a recommendation id; an event on an item never shown to its user is not."""
    before = console.admin.feedback()
    shown = console.admin.recommend("u335", k=4).items
    unseen = next(f"c2-{n}" for n in range(50) if f"c2-{n}" not in {i.item_id for i in shown})
    console.admin.ingest({"user_id": "u335", "item_id": shown[1].item_id, "event_type": "view"})
    console.admin.ingest({"user_id": "u335", "item_id": unseen, "event_type": "view"})
    page = console.page
    page.goto(f"{console.url}/ui/dashboard")
    page.wait_for_selector("#feedback-untagged")
    untagged = before.untagged + 1
    assert console.admin.feedback().untagged == untagged
    assert page.get_attribute("#feedback-untagged", "data-value") == str(untagged)
    text = page.inner_text("#feedback-untagged")
    assert text.startswith(f"{untagged} events on items shown to their user came without")
    unattributed = page.get_attribute("#feedback-unattributed", "data-value")
    assert unattributed == str(before.unattributed)
    assert console.errors == []


def test_a_phone_sized_screen_gets_one_column(console: Console) -> None:
    page = console.page
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{console.url}/ui/")
        page.wait_for_selector("#user-results button")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        controls = page.locator("#controls").bounding_box()
        recs = page.locator("#recs").bounding_box()
        assert controls and recs and recs["y"] > controls["y"] + controls["height"]
        page.goto(f"{console.url}/ui/dashboard")
        page.wait_for_selector("#feedback table")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert console.errors == []


def _png(width: int, height: int) -> bytes:
    """A small RGB PNG (a horizontal gradient), standing in for a benchmark's plot."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\0" + bytes(c for x in range(width) for c in (x * 255 // width, 92, 173))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(row * height)),
            chunk(b"IEND", b""),
        ]
    )


@dataclass
class Served:
    server: Server
    keys: Keys
    registry: ModelRegistry


@pytest.fixture(scope="module")
def registry_server(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A keyed server on a model registry of two versions (1 current; 2 a copy of 1 with its
    own metrics, as a fine-tuning round would leave it) and a report folder holding a
    streaming-evaluation report with one plot."""
    folder = tmp_path_factory.mktemp("registry-console")
    db, model = make_db(trained, folder)
    keys = make_keys(db)
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq(), events=store.counts().events)
    registry = ModelRegistry.create(folder / "registry", model, window)
    registry.add(
        registry.path(1),
        parent=1,
        status="published",
        data_window=window,
        metrics={
            "hr@10": 0.4375,
            "ndcg@10": 0.2519,
            "parent_hr@10": 0.4121,
            "parent_ndcg@10": 0.2377,
            "holdout_events": 40.0,
        },
        note="copy of version 1 with test metrics",
        copy=True,
    )
    reports = folder / "reports"
    reports.mkdir()
    (reports / "stream.json").write_text(
        json.dumps(
            {
                "metrics": {"hr@10": 0.4375, "ndcg@10": 0.2519, "events_per_s": 812.5},
                "command": "python bench/stream.py",
                "machine": "test machine",
                "commit": "0123abc",
                "date": "2026-11-28T12:00:00+00:00",
            }
        )
    )
    (reports / "stream_curve.png").write_bytes(_png(320, 180))
    env = {"ATTUNE_MODEL_POLL_S": "0.3", "ATTUNE_REPORT_DIR": str(reports)}
    server = Server(db, folder / "registry", env=env).start()
    yield Served(server, keys, registry)
    assert server.stop() in STOPPED, server.output


def _versions(page: Any) -> dict[int, tuple[str, dict[str, str]]]:
    """The versions table: {version: (row class, {metric: shown value})}."""
    rows = page.eval_on_selector_all(
        "#models tbody tr",
        """rows => rows.map(r => [Number(r.dataset.version), r.className,
            Object.fromEntries([...r.querySelectorAll('td[data-metric]')].map(
                td => [td.dataset.metric, td.firstChild.textContent]))])""",
    )
    return {v: (cls, metrics) for v, cls, metrics in rows}


def test_the_dashboard_shows_versions_and_the_report_and_follows_a_promotion(
    browser: Any, registry_server: Served
) -> None:
    server, keys, registry = registry_server.server, registry_server.keys, registry_server.registry
    admin = Client(server.url, api_key=keys.admin)
    experiment = start_experiment(registry, 2, 0.5)  # the A/B panel has one to show
    ui = open_tab(browser, server.url, admin)
    page = ui.page
    try:
        sign_in(ui, keys.admin, "/ui/dashboard")
        page.wait_for_selector("#models tbody tr[data-version='2']")
        page.wait_for_selector("#experiment tbody tr[data-arm='challenger']")
        assert experiment.id in page.inner_text("#experiment caption")
        assert page.get_attribute("#experiment-winner", "data-winner") == ""
        shown = _versions(page)
        assert set(shown) == {1, 2}
        assert shown[1][0] == "current serving" and shown[2][0] == ""
        v1 = registry.info(1).metrics  # the checkpoint's own validation metrics
        assert shown[1][1]["valid_ndcg@10"] == f"{v1['valid_ndcg@10']:.4f}"
        assert shown[2][1] == {"hr@10": "0.4375", "ndcg@10": "0.2519", "valid_hr@10": "–",
                               "valid_ndcg@10": "–", }  # fmt: skip
        parent = page.inner_text("#models tr[data-version='2'] td[data-metric='ndcg@10'] .sub")
        assert parent == "parent 0.2377"
        assert page.inner_text("#models tr.current .badge") == "current"
        assert "copy of version 1" in page.inner_text("#models tr[data-version='2']")
        # The report: its facts, metrics and plot, fetched with the key and decoded.
        page.wait_for_selector("#report figure img")
        facts = page.inner_text("#report dl.facts")
        assert "stream" in facts and "python bench/stream.py" in facts and "0123abc" in facts
        assert "812.5000" in page.inner_text("#report table")
        loaded = "img => img.complete && img.naturalWidth"
        assert page.eval_on_selector("#report figure img", loaded) == 320
        assert page.inner_text("#report figcaption") == "stream_curve.png"
        # Another process promotes version 2: the server swaps and the dashboard follows.
        registry.promote(2)
        tile = "() => document.getElementById('tile-model').dataset.value === '2'"
        page.wait_for_function(tile, timeout=15_000)
        page.wait_for_selector("#models tr.current[data-version='2']", timeout=15_000)
        shown = _versions(page)
        assert shown[2][0] == "current serving" and shown[1][0] == ""
        assert admin.stats(window=2).model_version == 2
        assert page.locator("#app .error").count() == 0
        assert ui.errors == []
    finally:
        page.close()
