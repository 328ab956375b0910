"""The layer order the design promises (docs/design.md), kept by reading every import.

cli -> (lab) -> daemon -> operations -> kernel/probing -> core -> config: a module imports
only from its own layer or those below it, and the pure layers (core, config) import no I/O.
`lab` (the namespace world behind `multiwan demo` and the tests) drives multiwan as a
program, so it sits under the CLI.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "multiwan"
LAYERS = {
    "config": 0,
    "core": 1,
    "kernel": 2,
    "probing": 2,
    "operations": 3,
    "daemon": 4,
    "lab": 5,
    "cli": 6,
    "__main__": 7,
}
PURE = ("config", "core")
IO_MODULES = {"asyncio", "socket", "subprocess", "ctypes", "pyroute2", "aiohttp", "fcntl"}


def _layer(module: str) -> str:
    return module.removeprefix("multiwan.").split(".")[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(SRC)) for p in MODULES])
def test_imports_follow_the_layers(path: Path) -> None:
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    assert own in LAYERS, f"{own} has no place in the layer order; add it to LAYERS"
    for module in _imports(path):
        if module.startswith("multiwan."):
            target = _layer(module)
            assert LAYERS[target] <= LAYERS[own], f"{path.name} ({own}) imports {module}"
        if own in PURE:
            assert module.split(".")[0] not in IO_MODULES, f"{path.name} is pure: {module}"


#: The daemon's decisions (docs/design.md): they import values, never what does I/O.
DECISIONS = ("daemon/engine.py", "daemon/effects.py", "daemon/clients.py")
DECISION_IMPORTS_FROM_BELOW = {"multiwan.kernel.events"}  # the kernel's event values


@pytest.mark.parametrize("name", DECISIONS)
def test_the_engine_decides_without_io(name: str) -> None:
    for module in _imports(SRC / name):
        assert module.split(".")[0] not in IO_MODULES, f"{name} is pure: {module}"
        if _layer(module) in ("kernel", "probing", "operations"):
            assert module in DECISION_IMPORTS_FROM_BELOW, f"{name} decides only: {module}"
