"""`/v1/models`: the model versions of the registry being served, and its online A/B test
(`/v1/models/experiment`: read, start, stop, compare)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from attune.feedback import compare
from attune.learning.experiments import current_experiment, end_experiment, start_experiment
from attune.learning.registry import VERSION_FILE, ModelRegistry, RegistryError, VersionInfo
from attune.schemas.experiments import Comparison, Experiment, ExperimentStart
from attune.server.deps import CanRecommend, EngineDep, IsAdmin
from attune.server.model_watch import ModelWatcher
from attune.server.problems import InvalidInputError, problem_responses

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelVersions(BaseModel):
    """Every version in the registry and which one serves."""

    current: int | None = Field(description="Version the registry names as current.")
    serving: int = Field(description="Version this server answers with right now.")
    versions: list[VersionInfo] = Field(description="All versions, oldest first.")
    experiment: Experiment | None = Field(
        None, description="The latest online A/B test, running or stopped; null when none has run."
    )


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
        current, versions, experiment = await run_in_threadpool(
            lambda: (registry.current(), registry.versions(), current_experiment(registry))
        )
    except RegistryError as err:
        raise HTTPException(503, f"the model registry is unreadable: {err}") from err
    return ModelVersions(
        current=current,
        serving=access.engine.model.version,
        versions=versions,
        experiment=experiment,
    )


def _registry_of(request: Request) -> ModelRegistry:
    registry: ModelRegistry | None = getattr(request.app.state, "registry", None)
    if registry is None:
        raise HTTPException(404, "this server serves a single checkpoint, not a model registry")
    return registry


async def _follow(request: Request) -> None:
    """Apply the registry's experiment to this server now (the others follow within their
    poll interval)."""
    watcher: ModelWatcher | None = getattr(request.app.state, "model_watcher", None)
    if watcher is not None:
        await watcher.check_experiment()


@router.get(
    "/experiment",
    dependencies=[CanRecommend],
    responses=problem_responses(401, 403, 404, 503),
    summary="The online A/B test",
)
async def get_experiment(request: Request, access: EngineDep) -> Experiment:
    """The registry's latest experiment, running or stopped; 404 when none has run."""
    registry = _registry_of(request)
    try:
        experiment = await run_in_threadpool(current_experiment, registry)
    except RegistryError as err:
        raise HTTPException(503, f"the model registry is unreadable: {err}") from err
    if experiment is None:
        raise HTTPException(404, "no experiment has run on this registry")
    return experiment


@router.put(
    "/experiment",
    dependencies=[IsAdmin],
    responses=problem_responses(401, 403, 404, 409, 422, 503),
    summary="Start an online A/B test",
)
async def put_experiment(request: Request, body: ExperimentStart, access: EngineDep) -> Experiment:
    """Serve the `challenger` version to a stable `share` of users (by a hash of their id),
    the current version to the rest, in place of any test running. Every server of the
    deployment follows within its poll interval; this one at once. 404 when the version does
    not exist; 409 when it is current already or does not load."""
    registry = _registry_of(request)
    if not (registry.path(body.challenger) / VERSION_FILE).is_file():
        message = f"version {body.challenger} does not exist in the registry"
        raise InvalidInputError.one("challenger", message, status=404)
    try:
        experiment = await run_in_threadpool(
            start_experiment, registry, body.challenger, body.share
        )
    except RegistryError as err:
        raise InvalidInputError.one("challenger", str(err), status=409) from None
    await _follow(request)
    return experiment


@router.delete(
    "/experiment",
    dependencies=[IsAdmin],
    responses=problem_responses(401, 403, 404, 503),
    summary="Stop the online A/B test",
)
async def delete_experiment(request: Request, access: EngineDep) -> Experiment:
    """Stop the running test; every user gets the current version again. 404 when none
    runs."""
    registry = _registry_of(request)
    try:
        stopped = await run_in_threadpool(end_experiment, registry)
    except RegistryError as err:
        raise HTTPException(503, f"the model registry is unreadable: {err}") from err
    if stopped is None:
        raise HTTPException(404, "no experiment is running")
    await _follow(request)
    return stopped


@router.get(
    "/experiment/compare",
    dependencies=[CanRecommend],
    responses=problem_responses(401, 403, 404, 503),
    summary="Click-through and conversion per arm",
)
async def compare_experiment(request: Request, access: EngineDep) -> Comparison:
    """The latest experiment's arms with 95% Wilson intervals, and the challenger's
    difference with its 95% interval, from this server's feedback counts (everything stored
    when it started, and what it served since; `attune models compare` reads the whole
    impression log of a shared store)."""
    experiment = await get_experiment(request, access)
    return compare(experiment, access.engine.feedback.tally().arms)
