"""Shared fixture: one planted-structure dataset for the whole session."""

from __future__ import annotations

import pytest

from tests.baselines.planted import Planted, make_planted


@pytest.fixture(scope="session")
def planted() -> Planted:
    return make_planted()
