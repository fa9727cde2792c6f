"""The package's shape, checked from the code (docs/architecture.md): imports point one way,
inference never imports training, FastAPI stays under serve, each rule has one definition,
and no module grows past the size a reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "newsclf"

# What each part may import, besides itself and the shared top-level modules. The order is
# the architecture: a part imports only parts listed before it.
LAYERS = {
    "data": set(),
    "inference": {"data"},
    "evaluation": {"data", "inference"},
    "report": {"data", "inference", "evaluation"},
    "training": {"data", "inference", "evaluation", "report"},
    "search": {"data", "inference", "evaluation", "report", "training"},
    "audit": {"data", "inference", "evaluation", "report", "training"},
    "serve": {"inference"},
    "export": {"inference"},
}
# Modules that sit above every part: they may import anything.
ENTRY_POINTS = {"newsclf", "newsclf.__main__", "newsclf.cli"}


def _entry_point(module: str) -> bool:
    return module in ENTRY_POINTS or module.startswith("newsclf.cli.")


WEB_LIBRARIES = ("fastapi", "fastapi_offline", "starlette", "pydantic", "uvicorn")
MAX_MODULE_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("newsclf", *path.relative_to(PACKAGE).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module an import statement names, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _part(module: str) -> str | None:
    """'data', 'training', ... for a module of a part; None for a shared top-level module."""
    parts = module.split(".")
    if len(parts) < 2 or _entry_point(module):
        return None
    return parts[1] if parts[1] in LAYERS else None


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _entry_point(m)))
def test_imports_point_one_way(module):
    own = _part(module)
    allowed = LAYERS.get(own, set()) | {own}
    for target in _imports(MODULES[module]) & set(MODULES):
        if target in ("newsclf", module):
            continue
        assert not _entry_point(target), f"{module} imports {target}"
        theirs = _part(target)
        if own is None:  # a shared module imports only shared modules
            assert theirs is None, f"shared {module} imports {target}"
        else:
            assert theirs in allowed | {None}, f"{module} ({own}) imports {target} ({theirs})"


def test_no_import_circles():
    edges = {
        m: {t for t in _imports(p) if t in MODULES and t not in (m, "newsclf")}
        for m, p in MODULES.items()
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, "import circle: " + " -> ".join([*path, module])
        if module in done:
            return
        for target in edges[module]:
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])


def test_web_libraries_only_under_serve():
    for module, path in MODULES.items():
        if _part(module) == "serve":
            continue
        web = sorted(n for n in _imports(path) if n.split(".")[0] in WEB_LIBRARIES)
        assert not web, f"{module} imports {web}: FastAPI and its kin belong to newsclf.serve"


@pytest.mark.parametrize(
    "definition",
    ["FORMATS", "check_texts", "_csv_chunks", "find_model_dir", "quiet_libraries", "launched"],
)
def test_each_rule_is_defined_once(definition):
    where = [
        module
        for module, path in MODULES.items()
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if definition in _defined_names(node)
    ]
    assert len(where) == 1, f"{definition} is defined in {where}"


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines: split it by responsibility"
