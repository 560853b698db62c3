"""The project metadata builds without deprecation warnings (`pip install` shows them)."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_expression() -> None:
    """PEP 639: `license` is an SPDX string; the `{text = ...}` table is deprecated."""
    project = tomllib.loads(PYPROJECT.read_text("utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    backend = " ".join(project["build-system"]["requires"])
    assert "setuptools>=77" in backend  # the first setuptools that reads the string form


def test_setuptools_reads_the_metadata_without_warnings() -> None:
    """What the build backend does with `pyproject.toml` under `pip install`, warnings as
    errors (the license table raised a SetuptoolsDeprecationWarning)."""
    pytest.importorskip("setuptools", minversion="77.0.3")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = apply_configuration(Distribution(), PYPROJECT)
    assert dist.metadata.license_expression == "Apache-2.0"
