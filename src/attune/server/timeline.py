"""Per-second traffic of one server over the last minutes: events taken and recommendation
latency, for the console's dashboard.

Prometheus histograms answer "how many, in total"; a dashboard without a Prometheus server
needs "how many, each second lately". A bounded ring of one-second buckets answers that in
constant memory, and a capped sample of latencies per second gives p50 and p99 without keeping
every observation under load.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Second:
    second: int
    events: int = 0
    recommendations: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Point:
    """One complete second of traffic."""

    time: int
    """Start of the second, in seconds since the epoch."""
    events: int
    """Events accepted during it."""
    recommendations: int
    """Recommendation lists served during it."""
    p50_ms: float | None
    """Median latency of those lists in milliseconds (None: no list served)."""
    p99_ms: float | None
    """99th percentile latency of those lists in milliseconds (None: no list served)."""


class Timeline:
    """The last `span` seconds of traffic, one bucket per second.

    Writers (the events route, the request timer) call `events` and `recommended`; readers ask
    for `points`. The second in progress is never reported: a partial second would read as a
    drop in throughput.
    """

    def __init__(
        self,
        span: int = 600,
        samples_per_second: int = 1024,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
    ) -> None:
        if span < 2 or samples_per_second < 1:
            raise ValueError("span must be at least 2 seconds and samples at least 1")
        self.span = span
        self.samples_per_second = samples_per_second
        self.clock = clock or time.time
        self._ring: list[_Second | None] = [None] * span
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def _bucket(self) -> _Second:
        now = int(self.clock())
        slot = now % self.span
        bucket = self._ring[slot]
        if bucket is None or bucket.second != now:  # the slot last held an older second
            bucket = self._ring[slot] = _Second(now)
        return bucket

    def events(self, count: int) -> None:
        """Count `count` events accepted now."""
        if count > 0:
            with self._lock:
                self._bucket().events += count

    def recommended(self, seconds: float) -> None:
        """Record one recommendation list served now, after `seconds` of work."""
        with self._lock:
            bucket = self._bucket()
            bucket.recommendations += 1
            sample = bucket.latencies
            if len(sample) < self.samples_per_second:
                sample.append(seconds)
            else:  # reservoir sampling: every list of the second is equally likely to be kept
                j = self._rng.randrange(bucket.recommendations)
                if j < len(sample):
                    sample[j] = seconds

    def _window(self, window: int) -> list[tuple[int, int, int, list[float]]]:
        window = max(1, min(window, self.span - 1))
        now = int(self.clock())
        with self._lock:
            found = {b.second: b for b in self._ring if b is not None}
            out: list[tuple[int, int, int, list[float]]] = []
            for second in range(now - window, now):
                b = found.get(second)
                if b is None:
                    out.append((second, 0, 0, []))
                else:
                    out.append((second, b.events, b.recommendations, list(b.latencies)))
        return out

    def points(self, window: int) -> list[Point]:
        """The last `window` complete seconds, oldest first, quiet seconds included as zeros."""
        return [Point(s, e, r, *_percentiles(lat)) for s, e, r, lat in self._window(window)]

    def summary(self, window: int) -> Summary:
        """The last `window` complete seconds as one figure each (latency samples pooled)."""
        seconds = self._window(window)
        events = sum(e for _, e, _, _ in seconds)
        pooled = [x for *_, lat in seconds for x in lat]
        return Summary(events / len(seconds), *_percentiles(pooled))


@dataclass(frozen=True)
class Summary:
    """A window of traffic in three figures."""

    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None


def _percentiles(latencies: list[float]) -> tuple[float | None, float | None]:
    if not latencies:
        return None, None
    p50, p99 = np.percentile(np.asarray(latencies) * 1000.0, [50, 99])
    return float(p50), float(p99)
