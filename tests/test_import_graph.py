"""hubkit's modules import each other without cycles (read from the sources with ``ast``, nothing imported).

Every import counts: module level, inside functions, and under ``if TYPE_CHECKING:``. hubkit imports lazily
to keep start-up fast (torch, timm, matplotlib inside functions), never to break a cycle: a cycle hidden
in a function or a type-checking block still means two modules that cannot be read, tested or moved
apart, and it turns into an import error the day one of the imports moves to module level.

An import names a module when it is one (``from hubkit.hub import routes`` -> ``hubkit.hub.routes``),
else the package it comes from (``from hubkit.cards import MetricCheck`` -> ``hubkit.cards``, its
``__init__``). The parents a submodule import runs implicitly are not counted: Python is already inside them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hubkit

ROOT = Path(hubkit.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The hubkit modules ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    found.add(f"{source}.{alias.name}")
                elif source in modules:
                    found.add(source)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _package(module: str, graph: dict[str, set[str]]) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to the package itself)."""
    return module if any(m.startswith(module + ".") for m in graph) else module.rpartition(".")[0]


def _cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """One concrete cycle per strongly connected component of ``graph`` (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield _cycle_through(node, component, graph)


def _cycle_through(start: str, component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest path start -> ... -> start inside ``component`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def _describe(cycles: list[list[str]]) -> str:
    return "import cycles:\n" + "\n".join("  " + " -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_the_imports_it_must() -> None:
    graph = _graph()
    assert "hubkit.hub.routes" in graph["hubkit.hub.app"]  # module-level ``from hubkit.hub import routes``
    assert "hubkit.verify.options" in graph["hubkit.verify.checks"]  # under TYPE_CHECKING
    assert "hubkit.cards" in graph["hubkit.publish.card"]  # inside a function, from a package __init__


def test_cycle_finder_reports_a_cycle() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert list(_cycles(graph)) == [["p.a", "p.b", "p.c", "p.a"]]


def test_no_import_cycle_between_modules_of_one_package() -> None:
    graph = _graph()
    for module, targets in graph.items():
        graph[module] = {t for t in targets if _package(t, graph) == _package(module, graph)}
    cycles = list(_cycles(graph))
    assert not cycles, _describe(cycles)


def test_no_import_cycle_anywhere_in_hubkit() -> None:
    cycles = list(_cycles(_graph()))
    assert not cycles, _describe(cycles)
