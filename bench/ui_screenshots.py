"""Screenshots of the web console: bench/results/ui_playground.png and ui_dashboard.png.

Imports MovieLens 100K (../shared/datasets/ml-100k) into a temporary database, serves it with
the demo's model (demo-data/model, from `make demo`) or a cached benchmark model, sends half a
minute of light traffic so the dashboard has curves, then opens both pages in the system's
Chromium (/usr/bin/chromium, driven by Playwright): the playground after user 1 clicked an item,
and the dashboard with the newest report of bench/results.

    .venv/bin/python bench/ui_screenshots.py [--traffic-s 30]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import cached_model
from _report import RESULTS, SHARED
from attune.client import Client
from attune.data import load
from attune.stores import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
_LISTENING = re.compile(r"Uvicorn running on (http://[\d.]+:\d+)")


def serve(db: Path, model: Path) -> tuple[subprocess.Popen[str], str]:
    """`attune serve` on a free loopback port, showing reports from bench/results."""
    env = {**os.environ, "ATTUNE_REPORT_DIR": str(RESULTS)}
    cmd = [sys.executable, "-c", "from attune.cli.main import app; app()", "serve", "--db", str(db)]
    cmd += ["--model", str(model)]
    proc = subprocess.Popen(
        [*cmd, "--port", "0"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if m := _LISTENING.search(line):
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, m.group(1)
    raise RuntimeError("the server exited before listening")


def traffic(url: str, seconds: float) -> None:
    """A few events and recommendations a second, as a handful of users browsing."""
    rng = random.Random(0)
    with Client(url) as client:
        items = [str(i) for i in range(1, 400)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            user = str(rng.randint(2, 200))
            client.recommend(user, k=10)
            if rng.random() < 0.6:
                client.ingest({"user_id": user, "item_id": rng.choice(items), "event_type": "view"})
            time.sleep(rng.uniform(0.05, 0.3))


def screenshots(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/ui/")
        page.fill("#user-query", "1")
        page.click("#find-user button")
        page.click('#user-results button[data-user-id="1"]')
        page.wait_for_selector("#recs li.rec")
        page.click("#recs li.rec:nth-child(3) .item-act")
        page.wait_for_selector("#status:has-text('Sent')")
        page.screenshot(path=RESULTS / "ui_playground.png", full_page=True)
        page.goto(f"{url}/ui/dashboard")
        page.wait_for_selector("#report dl")
        page.wait_for_timeout(2500)  # one more stats poll, so the charts hold the latest second
        page.screenshot(path=RESULTS / "ui_dashboard.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traffic-s", type=float, default=30.0, help="Seconds of traffic sent.")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing (`make browser` installs it)")
    demo_model = ROOT / "demo-data" / "model"
    model = demo_model if (demo_model / "model.pt").exists() else cached_model("ml-100k")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ml-100k.db"
        with SQLiteStore(db) as store:
            store.import_dataset(load(SHARED / "ml-100k"), progress=False)
        proc, url = serve(db, model)
        try:
            traffic(url, args.traffic_s)
            screenshots(url)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"wrote {RESULTS / 'ui_playground.png'} and {RESULTS / 'ui_dashboard.png'}")


if __name__ == "__main__":
    main()
