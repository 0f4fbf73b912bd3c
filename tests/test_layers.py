"""The architecture's import rules hold: ``lint-imports`` checks the contracts in pyproject.toml.

The contracts (``[tool.importlinter]``): the engine never imports Qt or the app, ``desktop.integration``
never imports Qt, and the engine's packages import only the layers below them (docs/architecture.md,
"Layers"). A lazy import inside a function counts: it is still a dependency.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    return [exe]


def test_import_contracts_hold() -> None:
    # --no-cache: a cache written by an older tree must not hide a new import.
    proc = subprocess.run(
        [*_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        report = (proc.stdout + proc.stderr).split("Contracts\n---------", 1)[-1]  # not the banner
        pytest.fail(f"an import breaks the architecture's contracts (pyproject.toml):{report}", pytrace=False)


def test_benchmarks_never_import_from_tests() -> None:
    """bench/ takes what it shares with tests/ from testkit/ (synthetic media, the app runner, a Milvus
    server) and bench/_common.py, never from tests/: a test helper can then change without breaking a
    benchmark nobody runs in CI."""
    import ast

    found = []
    for script in sorted((REPO / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"), str(script))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{script.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "tests"]
    assert found == [], "benchmarks import from tests/ (use testkit/ or _common):\n" + "\n".join(found)
