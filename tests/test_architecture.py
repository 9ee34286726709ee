"""The tree is the architecture: no import circle between modules, and no import against the flow.

Walks every ``import`` (top level and inside functions) of ``tune_mnist``, ``search_spaces`` and
``analysis`` with ``ast``, so that it checks the source as written, without importing anything."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("tune_mnist", "search_spaces", "analysis")

#: Each stage's rank: a module imports only stages of its own rank or lower (the data flows down this list).
RANKS = {
    "tune_mnist": 0,  # the package itself: its docstring and the lazy Python API
    "tune_mnist.core": 1,
    "tune_mnist.data": 2,
    "tune_mnist.model": 3,
    "tune_mnist.training": 4,
    "tune_mnist.trainables": 5,
    "tune_mnist.experiment": 6,
    "tune_mnist.strategies": 7,
    "search_spaces": 8,
    "tune_mnist.confirm": 9,
    "tune_mnist.extras": 10,
    "tune_mnist.tuning": 11,
    "tune_mnist.search_keywords": 12,
    "tune_mnist.search_options": 13,
    "tune_mnist.search": 14,
    "tune_mnist.api": 15,
    "tune_mnist.train": 14,
}
#: What the analysis may import of tune_mnist: it reads finished experiments and never needs the search.
ANALYSIS_MAY_IMPORT = ("core", "data", "model", "experiment", "strategies", "confirm", "extras")
#: Modules the analysis must never reach, directly or through the modules it imports.
ANALYSIS_NEVER = ("ray", "tune_mnist.search", "tune_mnist.tuning", "tune_mnist.trainables", "search_spaces")
#: Longest module unless its docstring says why it is one piece ("one piece"); the search CLI is shorter.
MAX_LINES, MAX_SEARCH_LINES = 300, 250


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module ``name`` imports: our modules by their full name, others by their top-level name."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name if alias.name in known else alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base if base in known else base.split(".")[0])
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(name, path, set(mods)) for name, path in mods.items()}


def stage(name: str) -> str:
    """The longest RANKS key that ``name`` is or lies below."""
    keys = [k for k in RANKS if name == k or name.startswith(k + ".")]
    return max(keys, key=len)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert circles(graph()) == []


def test_the_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_against_the_flow():
    edges = graph()
    against = []
    for name, deps in edges.items():
        if name.startswith("analysis"):
            continue
        for dep in deps & set(edges):
            if not dep.startswith("analysis") and RANKS[stage(dep)] > RANKS[stage(name)]:
                against.append(f"{name} -> {dep}")
            if dep.startswith("analysis"):
                against.append(f"{name} -> {dep} (only the analysis imports itself)")
    assert against == []


def test_analysis_imports_only_what_reads_experiments():
    edges = graph()
    allowed = tuple(f"tune_mnist.{sub}" for sub in ANALYSIS_MAY_IMPORT)
    wrong = [
        f"{name} -> {dep}"
        for name, deps in edges.items()
        if name.startswith("analysis")
        for dep in deps
        if dep.startswith("tune_mnist") and not dep.startswith(allowed)
    ]
    assert wrong == []


def test_analysis_never_reaches_ray_or_the_search():
    edges = graph()
    seen: set[str] = set()
    todo = [name for name in edges if name.startswith("analysis")]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += edges.get(name, ())
    assert sorted(m for m in seen if m.startswith(ANALYSIS_NEVER)) == []


def test_every_module_has_a_stage():
    assert [
        name
        for name in modules()
        if not any(name == k or name.startswith(k + ".") for k in RANKS) and not name.startswith("analysis")
    ] == []


def test_modules_are_short():
    """Above MAX_LINES a module says in its docstring why it is one piece; the search CLI stays short."""
    long = []
    for name, path in modules().items():
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "one piece" not in doc:
            long.append(f"{name}: {lines} lines")
    assert long == []
    assert len((REPO / "tune_mnist" / "search.py").read_text().splitlines()) <= MAX_SEARCH_LINES
