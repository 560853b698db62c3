"""`/docs` works offline: the Swagger UI page names only files this server serves, each of
them is served, and in Chromium with every request to another host refused it lists the
API's operations."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Keys, Server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, answer.read()


def test_docs_page_names_only_local_files(keyed_server: tuple[Server, Keys]) -> None:
    server, _ = keyed_server
    status, body = fetch(f"{server.url}/docs")
    page = body.decode()
    assert status == 200
    assert not re.findall(r"https?://", page), "the page loads something from elsewhere"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert len(assets) >= 3  # the script, the stylesheet, the icon
    for asset in assets:
        assert asset.startswith("/"), asset
        status, content = fetch(server.url + asset)
        assert status == 200 and content, asset
    assert "url: '/openapi.json'" in page or '"/openapi.json"' in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (`make browser`)")
def test_docs_render_the_operations_offline(keyed_server: tuple[Server, Keys]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    server, _ = keyed_server
    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(server.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", route)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = page.eval_on_selector_all(
                ".opblock-summary-path", "ns => ns.map(n => n.dataset.path)"
            )
        finally:
            browser.close()
    assert "/v1/events" in paths and "/v1/users/{user_id}/recommendations" in paths
    assert not outside, outside
    assert not errors, errors
