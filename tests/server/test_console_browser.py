"""The web console in a real browser: Debian's Chromium (/usr/bin/chromium, which `make test`
installs) driven by Playwright, against a server with API keys (conftest.keyed_server).

One tab signs in once and is shared by the tests, as a product manager would use it; every
test ends by checking that the browser logged no error (failed requests included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attune.client import Client
from attune.server.console._routes import CHART_LIB
from tests.server.conftest import Keys, Server

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
def console(keyed_server: tuple[Server, Keys]) -> Iterator[Console]:
    sync_api = pytest.importorskip("playwright.sync_api")
    server, keys = keyed_server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(10_000)
        ui = Console(page, server.url, Client(server.url, api_key=keys.admin))
        page.on("console", lambda m: ui.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: ui.errors.append(str(e)))
        page.goto(f"{server.url}/ui/")
        page.wait_for_selector("#login-form")
        assert page.is_hidden("#app")  # keys are configured: nothing shows before signing in
        page.fill("#login-key", keys.admin)
        page.press("#login-key", "Enter")
        page.wait_for_selector("#user-results button")
        yield ui
        browser.close()


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
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert console.errors == []
