"""The package's folders read in one direction: no lower room imports a higher one.

core ← io ← model ← method ← measure ← report ← explore ← cli/demo (ARCHITECTURE.md).
Lazy imports inside functions count too: they are dependencies all the same.
"""

import ast
from pathlib import Path

import raregal

LAYERS = ["core", "io", "model", "method", "measure", "report", "explore"]
PACKAGE = Path(raregal.__file__).parent


def layer_of(module: str) -> int:
    """The layer index of a dotted raregal module name (top-level modules: above all)."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def imports(path: Path) -> set[str]:
    """Every raregal module a file imports, lazily or not."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "raregal" or name.startswith("raregal.")}


def back_edges() -> list[tuple[str, str]]:
    edges = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("raregal",) + path.relative_to(PACKAGE).with_suffix("").parts)
        for imported in imports(path):
            if layer_of(imported) > layer_of(module):
                edges.append((module, imported))
    return sorted(edges)


def test_no_lower_layer_imports_a_higher_one():
    assert back_edges() == []


def test_relative_imports_are_not_used():
    """Absolute imports only, so that the check above sees every edge."""
    relative = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_the_check_sees_a_back_edge(tmp_path):
    """The rule can fail: a core module importing the method layer is one."""
    module = tmp_path / "x.py"
    module.write_text("def f():\n    from raregal.method.search import search\n")
    assert imports(module) == {"raregal.method.search"}
    assert layer_of("raregal.method.search") > layer_of("raregal.core.x")
