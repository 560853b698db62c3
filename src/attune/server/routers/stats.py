"""`GET /v1/stats` and `/v1/reports`: recent traffic, store counts and the latest evaluation
report, for dashboards that have no Prometheus server to ask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from attune.schemas.operations import Report, Stats, TrafficPoint
from attune.server import reports
from attune.server.deps import CanRecommend, EngineDep, MetricsDep
from attune.server.known_input import KnownQuery
from attune.server.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["operations"])


@router.get(
    "/stats",
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(401, 403, 422),
    summary="Counts and recent traffic",
)
async def get_stats(
    access: EngineDep,
    metrics: MetricsDep,
    window: Annotated[
        int, Query(ge=2, le=599, description="Seconds of traffic to return, ending now.")
    ] = 300,
) -> Stats:
    """Users, items and events known; events per second and recommendation latency (p50,
    p99) for each of the last `window` seconds, and over the whole window. The traffic is
    this process's own since it started."""
    engine = access.engine
    counts = await access.run(engine.store.counts)
    timeline = metrics.timeline
    summary = timeline.summary(window)
    return Stats(
        model_version=engine.model.version,
        users=counts.users,
        items=counts.items,
        events=counts.events,
        refresh_backlog=engine.refresh_backlog,
        window_s=window,
        events_per_s=summary.events_per_s,
        recommend_p50_ms=summary.p50_ms,
        recommend_p99_ms=summary.p99_ms,
        series=[TrafficPoint(**vars(p)) for p in timeline.points(window)],
    )


def _report_dir(request: Request) -> Path:
    folder: Path | None = request.app.state.settings.report_dir
    if folder is None:
        raise HTTPException(404, "no report folder is configured (the `report_dir` setting)")
    return folder


@router.get(
    "/reports/latest",
    dependencies=[CanRecommend],
    responses=problem_responses(401, 403, 404),
    summary="The latest evaluation report",
)
async def latest_report(request: Request) -> Report:
    """The newest report in the server's `report_dir` (a benchmark's `<name>.json`): its
    metrics, provenance and plot files. 404 without a report folder or report."""
    report = await run_in_threadpool(reports.latest, _report_dir(request))
    if report is None:
        raise HTTPException(404, "the report folder holds no report")
    return report


@router.get(
    "/reports/plots/{file}",
    dependencies=[CanRecommend],
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(401, 403, 404, 422),
    },
    summary="A plot of a report",
)
async def report_plot(
    request: Request,
    file: Annotated[
        str, PathParam(min_length=1, max_length=255, description="The plot's file name.")
    ],
) -> FileResponse:
    """One PNG named in a report's `plots`. 404 for any other name."""
    path = await run_in_threadpool(reports.plot, _report_dir(request), file)
    if path is None:
        raise HTTPException(404, f"no plot named {file!r}")
    return FileResponse(path, media_type="image/png")
