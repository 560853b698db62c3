"""Flat-combining micro-batcher: concurrent callers share one batched computation.

The first caller to find the batcher idle becomes the combiner: it takes every request queued
so far (its own and those that arrived while the previous batch ran), computes them in one
call, wakes their owners, and repeats until the queue is empty. Under no load a request runs
alone at once; under load, batches grow by themselves, with no timer adding latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Request(Generic[K, V]):
    keys: list[K]
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[K, V] = field(default_factory=dict)
    error: BaseException | None = None


class MicroBatcher(Generic[K, V]):
    """Runs `compute(keys) -> {key: value}` over the union of concurrent requests."""

    def __init__(self, compute: Callable[[list[K]], dict[K, V]], max_batch: int = 512) -> None:
        self._compute = compute
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Request[K, V]] = []
        self._busy = False
        self.batches = 0
        """Batches computed so far (for tests and metrics)."""

    def run(self, keys: list[K]) -> dict[K, V]:
        request: _Request[K, V] = _Request(keys)
        with self._lock:
            self._queue.append(request)
            lead = not self._busy
            if lead:
                self._busy = True
        if lead:
            self._combine()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _combine(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                batch: list[_Request[K, V]] = []
                size = 0
                while self._queue and (
                    not batch or size + len(self._queue[0].keys) <= self._max_batch
                ):
                    req = self._queue.pop(0)
                    batch.append(req)
                    size += len(req.keys)
            keys = list(dict.fromkeys(k for req in batch for k in req.keys))
            try:
                values = self._compute(keys)
                error = None
            except BaseException as exc:  # handed to every waiting caller
                values, error = {}, exc
            self.batches += 1
            for req in batch:
                req.result = {k: values[k] for k in req.keys if k in values}
                req.error = error
                req.done.set()
