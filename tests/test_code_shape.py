"""Small modules and short functions: no file in src/attune over 400 lines, no function over 60."""

import ast
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "attune"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(qualified name, lines) of each function or method longer than `limit` lines, counted
    from `def` to its last line (decorators excluded, docstring and nested functions included)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    if lines > limit:
                        found.append((name, lines))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_no_file_is_over_the_limit() -> None:
    too_long = {
        _name(path): lines
        for path in _sources()
        if (lines := len(path.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert too_long == {}


def test_no_function_is_over_the_limit() -> None:
    too_long = {
        f"{_name(path)}:{name}": lines
        for path in _sources()
        for name, lines in long_functions(path.read_text())
    }
    assert too_long == {}


def _function(name: str, lines: int) -> str:
    """The source of a function `name` exactly `lines` lines long."""
    return f"def {name}():\n" + "".join(f"    x{i} = {i}\n" for i in range(lines - 1))


def test_a_long_function_is_found() -> None:
    too_long = MAX_FUNCTION_LINES + 1
    method = "class Engine:\n" + textwrap.indent(_function("open", too_long), "    ")
    assert long_functions(method) == [("Engine.open", too_long)]
    nested = "def outer():\n" + textwrap.indent("async " + _function("inner", too_long), "    ")
    assert long_functions(nested) == [("outer", too_long + 1), ("outer.inner", too_long)]


@pytest.mark.parametrize("lines", [2, MAX_FUNCTION_LINES])
def test_a_function_within_the_limit_passes(lines: int) -> None:
    assert long_functions(_function("f", lines)) == []
