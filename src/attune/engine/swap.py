"""Model versions: load a checkpoint for serving, and swap the served model without dropping
a request (user vectors catch up in the background)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from attune.engine.context import EngineContext
from attune.engine.interest import InterestModel, serving_model
from attune.engine.refresh import UserVectors
from attune.log import get_logger
from attune.model.device import resolve_device
from attune.training.checkpoint import load_members

_log = get_logger(__name__)

_REFRESH_CHUNK = 256
"""Users per background refresh step after a swap."""


def load_model(checkpoint: str | Path, version: int, device: str = "cpu") -> InterestModel:
    """A checkpoint as the engine serves it (`CheckpointError` when it cannot be read); an
    ensemble checkpoint comes back as one model over its members."""
    resolved = resolve_device(device)
    return serving_model(load_members(checkpoint, device=resolved), version, str(resolved))


class ModelSwap:
    """Replaces the served model and refreshes the user vectors it makes stale."""

    def __init__(self, ctx: EngineContext, vectors: UserVectors) -> None:
        self.ctx = ctx
        self.vectors = vectors
        self.swaps = 0
        """Swaps so far: a background refresh stops when a newer swap follows."""
        self.refresher: threading.Thread | None = None

    def swap_model(self, model: InterestModel, *, background: bool = True) -> None:
        """Serve `model` from now on, without dropping a request.

        The new item index is built while the old one serves; the switch itself is a few
        assignments under the lock. User vectors are not recomputed at once: each user's V_u
        carries the version it was computed with, a request for a user with an older one
        recomputes it on the spot, and a background thread refreshes the rest in small batches
        (each holding the lock only briefly), then rebuilds the cold-start profiles.
        """
        ctx = self.ctx
        with ctx.lock:
            n_indexed = ctx.n_items()
        index = ctx.items.prepare(model)
        with ctx.lock:
            old = ctx.model.version
            ctx.items.install(model, index, n_indexed)
            ctx.model = model
            self.vectors.clear_caches()
            self.swaps += 1
            swap = self.swaps
        _log.info("model swapped", old_version=old, new_version=model.version)
        if background:
            thread = threading.Thread(
                target=self.refresh_all, args=(swap,), name="attune-refresh", daemon=True
            )
            thread.start()
            self.refresher = thread
        else:
            self.refresh_all(swap)

    def refresh_all(self, swap: int, chunk: int = _REFRESH_CHUNK) -> None:
        """Recompute every stale V_u in chunks; stops early when another swap follows."""
        ctx = self.ctx
        t0, done = time.perf_counter(), 0
        users = list(ctx.states.users())
        for start in range(0, len(users), chunk):
            if self.swaps != swap or ctx.closed:
                return
            done += self.vectors.refresh_stale(users[start : start + chunk])
            time.sleep(0)  # let waiting requests take the lock between chunks
        with ctx.lock:
            if self.swaps == swap:
                self.vectors.rebuild_profiles()
        _log.info(
            "user vectors refreshed",
            model_version=ctx.model.version,
            users=done,
            seconds=round(time.perf_counter() - t0, 3),
        )

    def wait_refreshed(self, timeout: float | None = None) -> None:
        """Block until the background refresh after the last swap has finished."""
        if self.refresher is not None:
            self.refresher.join(timeout)
