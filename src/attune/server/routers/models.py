"""`/v1/models`: the model versions of the registry being served."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from attune.learning.registry import ModelRegistry, RegistryError, VersionInfo
from attune.server.deps import CanRecommend, EngineDep
from attune.server.problems import problem_responses

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelVersions(BaseModel):
    """Every version in the registry and which one serves."""

    current: int | None = Field(description="Version the registry names as current.")
    serving: int = Field(description="Version this server answers with right now.")
    versions: list[VersionInfo] = Field(description="All versions, oldest first.")


@router.get(
    "",
    dependencies=[CanRecommend],
    responses=problem_responses(401, 403, 404, 503),
    summary="Model versions",
)
async def list_models(request: Request, access: EngineDep) -> ModelVersions:
    """Versions with their data window, evaluation metrics, parent and status. 404 when the
    server was started on a single checkpoint rather than a model registry."""
    registry: ModelRegistry | None = getattr(request.app.state, "registry", None)
    if registry is None:
        raise HTTPException(404, "this server serves a single checkpoint, not a model registry")
    try:
        current, versions = await run_in_threadpool(
            lambda: (registry.current(), registry.versions())
        )
    except RegistryError as err:
        raise HTTPException(503, f"the model registry is unreadable: {err}") from err
    return ModelVersions(current=current, serving=access.engine.model.version, versions=versions)
