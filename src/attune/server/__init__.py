"""The HTTP service: FastAPI app (`attune.server.app.create_app`), settings, API keys, metrics.

The request and response bodies live in `attune.schemas`, which the Python client shares
without pulling in the web framework or the engine.
"""
