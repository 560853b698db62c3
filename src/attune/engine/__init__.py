"""The real-time engine: events in, user state and interest vectors updated at once, ranked
and explained lists out. `Engine` (in `attune.engine.engine`) is the facade over its parts."""

from attune.engine.engine import Engine

__all__ = ["Engine"]
