"""Screenshots of the web console: bench/results/ui_playground.png and ui_dashboard.png.

Imports MovieLens 100K (../shared/datasets/ml-100k) into a temporary database and makes a model
registry whose version 1 is the demo's model (demo-data/model, from `make demo`) or a cached
benchmark model. The server runs on that registry while simulated users (MovieLens users 2-200)
ask for lists and click one of the first five items, or view a random film, for half a minute.
One real fine-tuning round (`fine_tune`) then learns those events into version 2, published
whatever its check says (tolerance 1.0: the point is a second version on screen, not a better
one; its note gives the check's NDCG against version 1) and made current, and the server swaps
to it. A few more seconds of traffic follow, so click-through has rows for both versions.
Then both pages are opened in the system's Chromium (/usr/bin/chromium, driven by Playwright):
the playground after user 1 clicked an item, and the dashboard with the newest report of
bench/results.

    .venv/bin/python bench/ui_screenshots.py [--traffic-s 30]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
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
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import DataWindow, ModelRegistry
from attune.stores import open_storage

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
_LISTENING = re.compile(r"Uvicorn running on (http://[\d.]+:\d+)")


def serve(db: Path, model: Path, reports: Path) -> tuple[subprocess.Popen[str], str]:
    """`attune serve` on a free loopback port, showing the newest report in `reports` and
    following the registry `model` within a second."""
    env = {**os.environ, "ATTUNE_REPORT_DIR": str(reports), "ATTUNE_MODEL_POLL_S": "1"}
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


def traffic(url: str, seconds: float, seed: int = 0) -> int:
    """Users browsing: each asks for a list, then mostly clicks one of its first five items
    (sent with the list's id, so click-through counts it), sometimes views a random film.
    Returns the number of events sent."""
    rng = random.Random(seed)
    sent = 0
    with Client(url) as client:
        items = [str(i) for i in range(1, 400)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            user = str(rng.randint(2, 200))
            recs = client.recommend(user, k=10)
            if rng.random() < 0.7 and recs.items:
                pick = rng.choice(recs.items[:5]).item_id
                event = {"user_id": user, "item_id": pick, "event_type": "click"}
                client.ingest(event | {"recommendation_id": recs.recommendation_id})
            else:
                client.ingest({"user_id": user, "item_id": rng.choice(items), "event_type": "view"})
            sent += 1
            time.sleep(rng.uniform(0.02, 0.12))
    return sent


def registry_of(model: Path, db: Path, root: Path, note: str) -> ModelRegistry:
    """A registry whose version 1 is `model`, trained (as far as it knows) on the whole log."""
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq(), events=store.counts().events)
    return ModelRegistry.create(root, model, window, note=note)


def learn(db: Path, registry: ModelRegistry, new_events: int) -> None:
    """One fine-tuning round on the traffic's events, published and promoted (the server,
    polling the registry, swaps to it)."""
    config = FineTuneConfig(min_events=min(100, new_events), tolerance=1.0, threads=2)
    with open_storage(db) as store:
        outcome = fine_tune(store, registry, config)
    print(
        f"fine-tune: v{outcome.version} {outcome.status}, {outcome.seconds:.1f} s: {outcome.reason}"
    )
    if outcome.status != "published":
        raise RuntimeError(f"the fine-tuning round did not publish: {outcome.reason}")


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
        page.wait_for_selector("#models tr.current.serving[data-version='2']")
        page.wait_for_timeout(2500)  # one more stats poll, so the charts hold the latest second
        page.screenshot(path=RESULTS / "ui_dashboard.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traffic-s", type=float, default=30.0, help="Seconds of traffic sent.")
    parser.add_argument(
        "--report", default="stream", help="bench/results report the dashboard shows (its name)."
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing (`make browser` installs it)")
    demo_model = ROOT / "demo-data" / "model"
    if (demo_model / "model.pt").exists():
        model, note = demo_model, "the demo's model (make demo)"
    else:
        model, note = cached_model("ml-100k"), "the cached ml-100k benchmark model"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ml-100k.db"
        with open_storage(db) as store:
            store.import_dataset(load(SHARED / "ml-100k"), progress=False)
        registry = registry_of(model, db, Path(tmp) / "registry", note)
        reports = Path(tmp) / "reports"  # only the chosen report, whatever ran after it
        reports.mkdir()
        for path in RESULTS.glob(f"{args.report}*"):
            if path.suffix in (".json", ".png"):
                shutil.copy(path, reports / path.name)
        proc, url = serve(db, registry.root, reports)
        try:
            t0 = time.monotonic()
            sent = traffic(url, args.traffic_s)
            learn(db, registry, sent)
            traffic(url, 8.0, seed=1)  # served by version 2 once the server has swapped
            print(f"traffic and fine-tuning: {time.monotonic() - t0:.0f} s")
            screenshots(url)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"wrote {RESULTS / 'ui_playground.png'} and {RESULTS / 'ui_dashboard.png'}")


if __name__ == "__main__":
    main()
