"""Find import cycles in a package, counting the imports made inside functions.

    python tools/import_cycles.py [SRC]     (SRC: the folder holding mlgate/; default src)

Every module under SRC/mlgate is parsed with `ast` (nothing is imported or run), and every
`import` and `from ... import` in it, at any depth (functions, methods, `if TYPE_CHECKING:`
blocks), becomes an edge to each module it runs:

- `from a.b import c` runs a.b, and the module a.b.c when there is one (else c is a name
  in a.b); `import a.b` runs a.b; relative imports are resolved against the importing
  module's package;
- loading a submodule runs its parent packages' __init__ first, so `import a.b.c` is also
  an edge to a.b (and a). Not to the root package, nor to the importing module's own
  packages: those are already running when the module runs. Naming one of them directly
  (`from mlgate import x`, `from mlgate.fairness import measure` inside mlgate.fairness)
  is an edge like any other: a package whose __init__ imports that module back closes a
  cycle.

A cycle is a strongly connected component of more than one module (Tarjan's algorithm).
The script prints each one, with the imports that close it, and exits 1 when there is any;
tests/test_architecture.py runs it over src/mlgate.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One edge: `source` loads `target` at `line` of `path`."""

    source: str
    target: str
    path: Path
    line: int


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `src`, by dotted name (a package by its __init__)."""
    found: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(src: Path, package: str = "mlgate") -> list[Import]:
    """Every internal import edge of `package`, including those made inside functions."""
    known = modules(src, package)
    edges: list[Import] = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        running = _ancestors(name) | {package, name}  # already executing when `name` runs
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: set[str] = set()
            for target in _loaded(node, name, is_package, known):
                targets |= {target, *(_ancestors(target) - running)}
            for target in sorted(targets & known.keys() - {name}):
                edges.append(Import(name, target, path, node.lineno))
    return edges


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iteratively: a deep chain of imports cannot hit the
        # recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    src = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "src"
    edges = imports(src)
    found = cycles(edges)
    for component in found:
        members = set(component)
        print(f"import cycle of {len(component)} modules: {', '.join(component)}")
        for edge in edges:
            if edge.source in members and edge.target in members:
                print(f"  {edge.path}:{edge.line}: {edge.source} -> {edge.target}")
    if not found:
        print(f"no import cycle in {src / 'mlgate'} ({len(edges)} internal imports)")
    return 1 if found else 0


def _loaded(node: ast.AST, module: str, is_package: bool, known: dict[str, Path]) -> list[str]:
    """The modules an import statement loads (names that are not modules: their module)."""
    if isinstance(node, ast.Import):
        return [_longest_module(alias.name, known) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        origin = ".".join([*base, *([node.module] if node.module else [])])
    else:
        origin = node.module or ""
    # `from X import n` runs X first (even when n is a submodule), then X.n when it is one.
    loaded = [_longest_module(origin, known)]
    for alias in node.names:
        candidate = f"{origin}.{alias.name}"
        if candidate in known:
            loaded.append(candidate)
    return loaded


def _longest_module(name: str, known: dict[str, Path]) -> str:
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts))}


if __name__ == "__main__":
    sys.exit(main())
