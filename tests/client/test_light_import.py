"""The Python client, the API shapes and the CLI's entry load no heavy library at import."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import pytest

import attune.schemas

HEAVY = ("torch", "numpy", "faiss", "scipy", "tqdm", "fastapi")


def _loaded(code: str) -> set[str]:
    """Module names loaded by a fresh interpreter after running `code`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import attune",
        "import attune.client",
        "from attune.client import AsyncClient, Client, FilterSpec, Interaction",
        "from attune.cli.main import app",
    ],
)
def test_no_heavy_library_is_loaded(code: str) -> None:
    assert not set(HEAVY) & _loaded(code)


def test_the_documented_check_passes() -> None:
    check = f"import attune.client, sys; assert not {set(HEAVY)!r} & set(sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", check], env=env, check=True)


def test_schemas_import_no_other_attune_package() -> None:
    modules = [m.name for m in pkgutil.iter_modules(attune.schemas.__path__, "attune.schemas.")]
    loaded = _loaded("\n".join(f"import {m}" for m in modules))
    ours = {m for m in loaded if m == "attune" or m.startswith("attune.")}
    assert ours == {"attune", "attune.schemas", *modules}
    assert not set(HEAVY) & loaded


def test_the_cli_loads_no_schema_module_it_does_not_need() -> None:
    loaded = _loaded("from attune.cli.main import app")
    assert {m for m in loaded if m.startswith("attune.schemas.")} == {"attune.schemas.keys"}
    assert "pydantic" not in loaded
