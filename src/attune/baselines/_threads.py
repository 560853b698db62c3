"""How many threads the native trainers may use."""

from __future__ import annotations

import os


def cpu_count() -> int:
    """CPUs this process may run on (respects affinity/cgroup pinning where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int) -> int:
    """0 means all available CPUs."""
    return cpu_count() if threads <= 0 else threads
