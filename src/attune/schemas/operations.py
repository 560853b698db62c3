"""What operators read: liveness, readiness, traffic statistics and evaluation reports."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str = Field(description="Always `ok`.")


class StoreHealth(BaseModel):
    """The store a server reads and writes, as its readiness probe found it."""

    kind: str = Field(description="`sqlite`, `memory`, `redis` or `redis-cluster`.")
    reachable: bool = Field(description="Whether the store answered the probe.")
    latency_ms: float | None = Field(
        description="Round trip of the probe's read (the log's newest position), in "
        "milliseconds; null when the store did not answer."
    )


class Readiness(BaseModel):
    """Readiness: the engine is loaded and the store answers."""

    status: str = Field(description="`ready`.")
    store: StoreHealth = Field(description="The store and the round trip of one read from it.")
    model_version: int = Field(description="Version of the model being served.")
    users: int = Field(description="User ids known to the store.")
    items: int = Field(description="Item ids known to the store.")
    last_seq: int = Field(description="Log position of the newest event.")


class TrafficPoint(BaseModel):
    """One complete second of the server's traffic."""

    time: int = Field(description="Start of the second, in seconds since the epoch.")
    events: int = Field(description="Events accepted during that second.")
    recommendations: int = Field(description="Recommendation lists served during that second.")
    p50_ms: float | None = Field(
        description="Median latency of those lists in milliseconds; null if none was served."
    )
    p99_ms: float | None = Field(
        description="99th percentile latency of those lists in ms; null if none was served."
    )


class Stats(BaseModel):
    """What the server holds and how busy it has been lately."""

    model_version: int = Field(description="Version of the model being served.")
    users: int = Field(description="User ids known to the store.")
    items: int = Field(description="Item ids known to the store.")
    events: int = Field(description="Events in the log.")
    refresh_backlog: int = Field(
        description="Users whose V_u awaits the background refresh after bulk ingests (reads "
        "refresh such a user on the spot)."
    )
    window_s: int = Field(description="Seconds covered by `series` and the figures below.")
    events_per_s: float = Field(description="Mean events accepted per second over the window.")
    recommend_p50_ms: float | None = Field(
        description="Median recommendation latency over the window (ms); null if none served."
    )
    recommend_p99_ms: float | None = Field(
        description="99th percentile recommendation latency over the window (ms); null if none."
    )
    series: list[TrafficPoint] = Field(description="Each second of the window, oldest first.")


class Report(BaseModel):
    """An evaluation report as the benchmarks write it (`<name>.json`), with its plots."""

    name: str = Field(description="The report's file name without `.json`.")
    date: str | None = Field(description="When it was written (ISO 8601), if it says.")
    command: str | None = Field(description="The command that produced it, if it says.")
    commit: str | None = Field(description="The code version it ran, if it says.")
    machine: str | None = Field(description="The machine it ran on, if it says.")
    metrics: dict[str, float] = Field(description="Its numeric metrics by name.")
    plots: list[str] = Field(
        description="PNG files of the report (`<name>*.png`), served under "
        "`/v1/reports/plots/{file}`."
    )
