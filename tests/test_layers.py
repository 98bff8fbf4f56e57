"""The lower layers (consent, schemas, adapters) never import the application (exchange)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOWER = ("consent", "schemas", "adapters")

# A fresh interpreter, so that nothing the test session already imported hides a dependency.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    sys.modules["exchange"] = None  # any "import exchange..." now raises ImportError
    for name in sys.argv[1:]:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, name + "."):
            importlib.import_module(module.name)
    """
)


def test_lower_layers_import_without_exchange():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *LOWER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def imported(node: ast.AST) -> list[str]:
    """The absolute modules an import statement, or ``import_module("...")``, names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.level == 0 and node.module else []
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def is_exchange(module: str) -> bool:
    return module == "exchange" or module.startswith("exchange.")


@pytest.mark.parametrize("package", LOWER)
def test_lower_layers_name_no_exchange_import(package):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        # ast.walk reaches imports inside functions and classes as well as at the top.
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for module in filter(is_exchange, imported(node)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
    assert not found, "\n".join(found)


def test_doors_do_not_borrow_from_each_other() -> None:
    """API view modules and web pages import no API view module: what they share lives in
    the domain's service, presenter or report module (only the app factory imports views)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "exchange"
    doors = [*root.glob("*/views.py"), *(root / "web").glob("*.py")]
    borrowed = []
    for path in doors:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("exchange.") and module.endswith(".views"):
                borrowed.append(f"{path.relative_to(root.parent)}: {module}")
    assert borrowed == []
