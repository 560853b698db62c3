"""The FastAPI application: `create_app(settings)`; the engine is opened in the lifespan.

Importing this module loads no model and opens no database; `uvicorn --factory
attune.server.app:create_app` works with settings from `ATTUNE_*` variables.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from attune import __version__
from attune.log import configure, get_logger
from attune.server import api_docs, console
from attune.server.deps import EngineAccess
from attune.server.gate import AuthFirst
from attune.server.limits import BodyLimit, JsonLimits
from attune.server.metrics import Metrics, RequestTimer
from attune.server.model_watch import ModelWatcher
from attune.server.offload import ThreadPool
from attune.server.openapi import openapi_document
from attune.server.problems import CrashGuard, install_problem_handlers
from attune.server.rate_limits import RateLimit, open_buckets
from attune.server.routers import (
    directory,
    events,
    feedback,
    health,
    items,
    keys,
    models,
    stats,
    users,
)
from attune.server.security import open_key_ring
from attune.server.serving import Serving, open_serving
from attune.server.settings import ServerSettings
from attune.server.store_watch import StoreWatcher
from attune.server.timeouts import RequestTimeout
from attune.stores import redacted

_log = get_logger(__name__)

DESCRIPTION = """Real-time personalized recommendations: send events, and the next
recommendation already follows them. Every list item carries the reason it is there.

Authenticate with an API key (`attune keys create --scope ...`) in `X-API-Key` or
`Authorization: Bearer`. Scopes: `ingest` (events, item and user updates), `recommend`
(recommendations, explanations, history, similar items), `admin` (all, and erasure).
Errors are `application/problem+json` documents naming the fields at fault."""


def _lifespan(
    settings: ServerSettings, opened: Serving | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the engine opened (under the database lock, on a store owned by one
    process) before the first request, unless `opened` already is, the watchers started, and
    all of it closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = opened if opened is not None else await run_in_threadpool(open_serving, settings)
        engine = serving.engine
        # What the engine loaded (vocabularies, states, the model) lives as long as the
        # process: moved out of the collector's sight, the full collections that request
        # garbage triggers stop walking it (faster event parsing, a shorter p99).
        gc.collect()
        gc.freeze()
        app.state.metrics.bind(engine)
        app.state.engine = engine
        pool = ThreadPool(settings.engine_threads)
        app.state.engine_access = EngineAccess(engine, pool)
        tasks = _watchers(app, settings, serving)
        _log.info(
            "serving",
            store=redacted(settings.storage_url),
            model=str(settings.model),
            model_version=engine.model.version,
            users=len(engine.store.users),
            items=len(engine.store.items),
            auth=app.state.keys.enabled,
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            app.state.engine = app.state.engine_access = None
            await run_in_threadpool(pool.close)  # the calls in flight finish first
            await run_in_threadpool(serving.close)  # writes the state snapshot, unlocks
            _log.info("stopped", store=redacted(settings.storage_url))

    return lifespan


def _watchers(app: FastAPI, settings: ServerSettings, serving: Serving) -> list[asyncio.Task[None]]:
    """Background polls: the model registry's current version (when serving a registry) and,
    on a shared store, the catalogue and user changes other servers stored."""
    tasks: list[asyncio.Task[None]] = []
    app.state.registry = serving.registry
    if serving.registry is not None:
        watcher = ModelWatcher(
            serving.engine,
            serving.registry,
            settings.model_poll_s,
            on_failure=lambda v, _: app.state.metrics.model_load_failures.inc(),
        )
        app.state.model_watcher = watcher  # the experiment routes apply a change at once
        tasks.append(asyncio.create_task(watcher.run(), name="attune-model-watch"))
    if not serving.engine.store.single_process:
        follower = StoreWatcher(serving.engine, settings.store_poll_s)
        tasks.append(asyncio.create_task(follower.run(), name="attune-store-watch"))
    return tasks


def create_app(settings: ServerSettings | None = None, serving: Serving | None = None) -> FastAPI:
    """The API over the database and model named in `settings` (default: from the
    environment and `ATTUNE_CONFIG`); `serving`: the engine already opened from them, which
    the app then owns (closed at shutdown)."""
    if settings is None:  # a worker process of `attune serve --workers N`, or uvicorn --factory
        settings = ServerSettings()  # filled from ATTUNE_* and the TOML file
        configure(settings.log_level, fmt=settings.log_format)

    app = FastAPI(
        title="Attune",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, serving),
        docs_url=None,  # served from local files: see api_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.keys = open_key_ring(settings.storage_url, settings.keys_file)
    app.state.metrics = Metrics()
    app.state.engine = app.state.engine_access = None
    app.state.registry = app.state.model_watcher = None
    app.state.fast_paths = True  # the hot routes' fast paths (server/fastpath.py)
    install_problem_handlers(app)
    for module in (events, users, items, models, feedback, health):
        app.include_router(module.router)
    for module in (directory, stats, keys):  # what the console reads beyond the core API
        app.include_router(module.router)
    console.install(app)
    if settings.docs:
        api_docs.install(app)
    _install_middleware(app, settings)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def _install_middleware(app: FastAPI, settings: ServerSettings) -> None:
    """The middleware around the routes; the last added runs first."""
    metrics: Metrics = app.state.metrics
    app.add_middleware(JsonLimits, limits=settings.input_limits)  # inside BodyLimit: bounded
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(AuthFirst)  # 401/403 before a body is read (413, 422, 400)
    limited = settings.rate_limits.classes
    if limited:  # before any body is read; none configured: not even the lookup
        buckets = open_buckets(settings.rate_limits)
        app.add_middleware(RateLimit, buckets=buckets, limited=set(limited), metrics=metrics)
    if settings.request_timeout_s is not None:  # outside the limit: a slow shared store counts
        app.add_middleware(RequestTimeout, seconds=settings.request_timeout_s, metrics=metrics)
    app.add_middleware(CrashGuard)  # an exception anywhere inside: one line, a 500 problem
    app.add_middleware(RequestTimer, metrics=metrics)  # outermost: times everything
