"""The import contracts in pyproject.toml ([tool.importlinter]) cover every package of attune,
and a wrong import breaks them: each case copies the package, adds one import against the
architecture, and runs `lint-imports` on the copy."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "attune"
PYPROJECT = ROOT / "pyproject.toml"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    assert config["root_package"] == "attune"
    return {contract["id"]: contract for contract in config["contracts"]}


def _children() -> set[str]:
    """The packages and modules directly under src/attune, as import-linter names them."""
    names = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    names |= {path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py"}
    return names


def _layer_members(contract: dict[str, Any]) -> set[str]:
    return {name.strip() for layer in contract["layers"] for name in layer.split("|")}


def test_every_package_is_in_the_contracts() -> None:
    contracts = _contracts()
    layers = contracts["layers"]
    assert layers["containers"] == ["attune"]
    # exhaustive: lint-imports itself fails when a child of attune is in no layer.
    assert layers["exhaustive"] is True
    assert layers["exhaustive_ignores"] == ["client"]
    assert _layer_members(layers) | {"client"} == _children()
    forbidden_to_client = set(contracts["client-imports"]["forbidden_modules"])
    assert forbidden_to_client == {f"attune.{name}" for name in _children() - {"client", "schemas"}}
    assert contracts["client-unimported"]["source_modules"] == ["attune.*"]
    assert contracts["top-level"]["source_modules"] == ["attune"]
    assert contracts["private-modules"]["type"] == "private_modules"


def _copy_package(destination: Path) -> Path:
    """The package's Python files and the project's import-linter config, under destination."""

    def not_python(folder: str, names: list[str]) -> set[str]:
        return {
            name
            for name in names
            if name == "__pycache__" or not (name.endswith(".py") or (Path(folder) / name).is_dir())
        }

    shutil.copytree(PACKAGE, destination / "src" / "attune", ignore=not_python)
    (destination / "pyproject.toml").write_text(PYPROJECT.read_text())
    return destination / "src" / "attune"


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", command, "--config", "pyproject.toml", "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _broken_contracts(output: str) -> set[str]:
    """The ids of the contracts the output reports broken: a line "<name> BROKEN" each, with
    "(N ignored imports)" after it where the contract ignores some."""
    ids = {contract["name"]: key for key, contract in _contracts().items()}
    verdict = re.compile(r"(.+) (KEPT|BROKEN)( \(.*\))?")
    found = (verdict.fullmatch(line) for line in output.splitlines())
    return {ids[match[1]] for match in found if match and match[2] == "BROKEN"}


def test_the_package_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    _copy_package(tmp_path)
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


def _append(module: Path, line: str) -> None:
    module.parent.mkdir(parents=True, exist_ok=True)
    existing = module.read_text() if module.exists() else ""
    module.write_text(f"{existing}\n{line}\n")


def _module_inside_factory() -> str:
    """A module inside the storage factory package (the contract forbids `attune.stores.*`)."""
    expression = _contracts()["storage-backends"]["forbidden_modules"][0]
    factory = PACKAGE.joinpath(*expression.removesuffix(".*").split(".")[1:])
    backend = sorted(path for path in factory.iterdir() if not path.name.startswith("_"))[0]
    return f"{expression.removesuffix('.*')}.{backend.name.removesuffix('.py')}"


# (file under the copied package, line appended to it, the contract it must break)
WRONG_IMPORTS = {
    "upward": ("model/__init__.py", "import attune.engine", "layers"),
    "between siblings": ("ranking/__init__.py", "import attune.feedback", "layers"),
    "package in no layer": ("extra/__init__.py", "import attune.log", "layers"),
    "client imports beyond schemas": ("client/__init__.py", "import attune.data", "client-imports"),
    "a package imports the client": (
        "server/__init__.py",
        "import attune.client",
        "client-unimported",
    ),
    "top-level module imports a package": ("__init__.py", "import attune.log", "top-level"),
    "another package's private module": (
        "ranking/__init__.py",
        "import attune.retrieval._injected",
        "private-modules",
    ),
    "backend without the factory": ("server/__init__.py", None, "storage-backends"),
}


@pytest.mark.parametrize("case", sorted(WRONG_IMPORTS))
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, case: str) -> None:
    package = _copy_package(tmp_path)
    relative, line, contract = WRONG_IMPORTS[case]
    if case == "another package's private module":
        _append(package / "retrieval" / "_injected.py", '"""A private module of retrieval."""')
    _append(package / relative, line or f"import {_module_inside_factory()}")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _broken_contracts(result.stdout) == {contract}, result.stdout
