"""Routes of the web console: two pages, their static files, and what the scripts must know
before their first API call (whether to ask for a key, which optional panels have data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from attune import __version__
from attune.data.events import EventTypes, Polarity
from attune.engine.engine import Engine
from attune.server import reports
from attune.server.security import KeyRing

PAGES = Path(__file__).parent / "pages"
STATIC = Path(__file__).parent / "static"
VENDOR = STATIC / "vendor"
"""Files built from the npm registry by `make install` (`ui/`); not in the repository."""
CHART_LIB = VENDOR / "chart.umd.min.js"

# Everything is served by this server: no CDN, no inline code. Plots arrive as blobs because
# they are fetched with the API key.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = {"Content-Security-Policy": _POLICY, "Cache-Control": "no-cache"}

router = APIRouter(prefix="/ui", include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the console under `/ui` (pages and config here, scripts from `static/`)."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")


@router.get("")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/")
async def playground() -> FileResponse:
    return FileResponse(PAGES / "playground.html", headers=_PAGE_HEADERS)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(PAGES / "dashboard.html", headers=_PAGE_HEADERS)


@router.get("/config.json")
async def config(request: Request) -> dict[str, Any]:
    """Facts the pages need before they can call the API. Panels whose endpoint would only
    answer 404 on this server are switched off here, so the browser never logs an error."""
    state = request.app.state
    keys: KeyRing = state.keys
    engine: Engine | None = state.engine
    paths = request.app.openapi()["paths"]  # built once; app.routes may hold nested routers
    report_dir: Path | None = state.settings.report_dir
    has_report = report_dir is not None and (
        await run_in_threadpool(reports.latest, report_dir) is not None
    )
    # The playground offers every event type the engine takes (the store's configuration);
    # before the engine is up, the default ones.
    event_types = engine.event_types if engine is not None else EventTypes()
    ranking = engine.config.ranking if engine is not None else None
    return {
        "version": __version__,
        "auth": keys.enabled,
        "charts": CHART_LIB.is_file(),
        "features": {
            "models": "/v1/models" in paths and getattr(state, "registry", None) is not None,
            "feedback": "/v1/feedback" in paths,
            "report": has_report,
        },
        "event_types": event_types.names,
        "negative_event_types": [
            name for name, spec in event_types.types.items() if spec.polarity is Polarity.NEGATIVE
        ],
        "defaults": {
            "k": 10,
            "diversity": ranking.diversity.mmr_lambda if ranking else 0.0,
            "explore": ranking.exploration.share if ranking else 0.0,
        },
    }
