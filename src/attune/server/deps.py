"""Dependencies of the routes, as `Annotated` aliases: the engine, metrics, path ids, and the
API-key check of each scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from attune.engine.engine import Engine
from attune.schemas.records import ID_RULE, IdSchema, check_id
from attune.server.gate import admit
from attune.server.metrics import Metrics
from attune.server.offload import ThreadPool
from attune.server.security import ApiKey, ApiScope

T = TypeVar("T")


class EngineAccess:
    """The engine, and a way to call it off the event loop.

    Engine calls are CPU-bound and serialised by the engine's lock, so they run on a few
    worker threads (`engine_threads`): enough for ingest micro-batches to form, few enough
    that waiting threads do not contend for the GIL.
    """

    def __init__(self, engine: Engine, pool: ThreadPool) -> None:
        self.engine = engine
        self.pool = pool

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.pool.run(partial(fn, *args, **kwargs))


async def _engine(request: Request) -> EngineAccess:
    access: EngineAccess | None = getattr(request.app.state, "engine_access", None)
    if access is None:  # starting or shutting down
        raise HTTPException(503, "the engine is not loaded", headers={"Retry-After": "1"})
    return access


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


EngineDep = Annotated[EngineAccess, Depends(_engine)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]

# Ids in paths are matched by the `id` convertor (server/paths.py), then held to the same id
# rule as ids in bodies (`schemas.records.check_id`), so a path names only ids a body could.
UserId = Annotated[
    str, Path(description="External user id: " + ID_RULE), AfterValidator(check_id), IdSchema()
]
ItemId = Annotated[
    str, Path(description="External item id: " + ID_RULE), AfterValidator(check_id), IdSchema()
]

_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `attune keys create`."
)
_bearer = HTTPBearer(
    auto_error=False, description="The same API key, as `Authorization: Bearer <key>`."
)


def requires(scope: ApiScope | None) -> Callable[..., Awaitable[ApiKey | None]]:
    """A dependency admitting requests whose key holds `scope` (or `admin`); with `None`,
    any valid key (`gate.admit` decides).

    With authentication off, every request is admitted, but only on a loopback socket: the
    CLI refuses to bind elsewhere, and this covers servers started some other way (a Unix
    socket counts as local). The dependency carries its scope as `api_scope`, so that
    `gate.AuthFirst` can run the same check before a request's body is read.
    """

    async def check(
        request: Request,
        header: Annotated[str | None, Security(_api_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> ApiKey | None:
        presented = header or (bearer.credentials if bearer else None)
        return admit(request.app.state.keys, scope, presented, request.scope.get("server"))

    check.api_scope = scope  # type: ignore[attr-defined]
    return check


CanIngest = Depends(requires(ApiScope.INGEST))
CanRecommend = Depends(requires(ApiScope.RECOMMEND))
IsAdmin = Depends(requires(ApiScope.ADMIN))
AnyKey = Depends(requires(None))
