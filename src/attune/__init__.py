"""Attune: a self-hosted, real-time personalized recommendation engine."""

__version__ = "0.1.0"
