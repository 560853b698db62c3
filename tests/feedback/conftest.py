"""Engine fixtures of tests/engine, shared here (the trained model comes from tests/conftest)."""

from tests.engine.conftest import engine_files

__all__ = ["engine_files"]
