"""Rules of the test suite itself: shared helpers live in tests/fixtures/, and no module imports a
test module (a `test_*.py` or a `conftest.py`): a test module is collected, not imported, and one
that another imports runs its helpers' imports and definitions under two names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".venv", ".git", "node_modules", "loa.egg-info", "test-artifacts"}


def python_files():
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIPPED & set(path.relative_to(ROOT).parts):
            yield path


def is_test_module(dotted: str, root: Path = ROOT) -> bool:
    """A test module of this project (not, say, aiohttp.test_utils)."""
    first, _, rest = dotted.partition(".")
    last = dotted.rsplit(".", 1)[-1]
    return bool(rest) and (root / first).is_dir() and (last.startswith("test_") or last == "conftest")


def imported_modules(path: Path, root: Path = ROOT):
    """Every module an import statement of the file names, at any depth (in functions too), with its
    line; `from package import name` names both the package and `package.name`."""
    package = ".".join(path.relative_to(root).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def test_no_module_imports_a_test_module():
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in python_files() for name, line in imported_modules(path) if is_test_module(name)]
    assert found == [], ("Shared test helpers belong in tests/fixtures/ (README, \"Writing tests\"):\n"
                         + "\n".join(found))


def test_the_rule_sees_every_form_of_import(tmp_path):
    (tmp_path / "tests").mkdir()
    sample = tmp_path / "tests" / "test_sample.py"
    sample.write_text("import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c\n"
                      "from .test_d import y\nfrom tests.emulator.conftest import z\n"
                      "def f():\n    from tests.test_e import w\n"
                      "from tests.fixtures.bot import served\nfrom storage import contest\n"
                      "from aiohttp.test_utils import TestClient\n")
    names = {name for name, _line in imported_modules(sample, tmp_path) if is_test_module(name, tmp_path)}
    assert names == {"tests.test_a", "tests.test_b", "tests.test_c", "tests.test_d", "tests.emulator.conftest",
                     "tests.test_e"}
