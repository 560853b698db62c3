"""The HTTP service: FastAPI app (`attune.server.app.create_app`), settings, API keys, metrics.

This package's `__init__` imports nothing heavy: the client imports `attune.server.schemas`
without pulling in the web framework or the engine.
"""
