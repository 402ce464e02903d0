"""Lint rule: each layer imports only the layers before it; nothing low imports web frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "brightline"

# Data flows one way: media -> signals -> index -> store -> banks -> matching -> front ends.
LAYERS: dict[str, int] = {
    "__init__": 0,
    "errors": 0,
    "settings": 0,
    "hookspecs": 1,  # hook signatures name signal types
    "signals": 1,
    "demo": 1,
    "index": 2,
    "store": 3,
    "banks": 4,
    "auth": 4,  # API keys live in the store beside banks
    "matching": 5,
    "evaluation": 6,  # accuracy measurement: signals, index and matching, never service/cli
    "records": 6,  # match records and aggregate counters
    "actions": 6,
    "review": 7,
    "reporting": 8,
    "appeals": 8,  # reversing a decision may retract a report
    "sources": 8,  # feeds fill banks and take reviewers' false-positive feedback
    "privacy": 9,
    "service": 10,
    "cli": 10,
    "benchmarks": 10,
    "scaleout": 10,  # backlog scans (local engine or Ray): matching, records and the store
}
WEB_FRAMEWORKS = {"fastapi", "starlette", "uvicorn", "flask"}
NO_WEB_BELOW = LAYERS["service"]


def _layer_of(module_path: Path) -> tuple[str, int]:
    top = module_path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if top not in LAYERS:
        raise AssertionError(f"{module_path}: top-level module {top!r} has no layer; add it to LAYERS")
    return top, LAYERS[top]


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def violations() -> list[str]:
    """Every import that goes up the layer stack, or to a web framework from below the service."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        top, level = _layer_of(path)
        for name in _imports(ast.parse(path.read_text(), str(path))):
            root = name.split(".")[0]
            if root in WEB_FRAMEWORKS and level < NO_WEB_BELOW:
                found.append(f"{path.relative_to(PACKAGE)} imports {name} (web framework below service/)")
            if root == "brightline" and "." in name:
                target = name.split(".")[1]
                if target in LAYERS and LAYERS[target] > level:
                    found.append(f"{path.relative_to(PACKAGE)} ({top}) imports {name} from a higher layer")
    return found


def test_no_layer_imports_one_above_it() -> None:
    assert violations() == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("from brightline.cli import app\nimport fastapi\n")
    assert _imports(tree) == ["brightline.cli", "fastapi"]
    assert LAYERS["cli"] > LAYERS["signals"]


def test_modules_stay_small() -> None:
    big = []
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        if lines > 450:
            big.append(f"{path.relative_to(PACKAGE)}: {lines} lines")
    assert big == []
