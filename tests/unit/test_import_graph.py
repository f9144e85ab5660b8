"""The import graph of monitor/ and probes/: no circles, and no library module imports the
command line (monitor.cli).

Every module is parsed, not imported: module-level imports and those inside functions both
count (an import put in a function to dodge a circle is still a circle, only a later one).
Imports under `if TYPE_CHECKING:` do not: they never run. An edge goes to the module an
import statement names (`from monitor.cli import ssh` names monitor.cli.ssh); parent packages
are not added, since a package's `__init__` importing its own submodules is not a circle a
reader trips over.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from lab.support import REPO

PACKAGES = ("monitor", "probes")
CLI = "monitor.cli"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that can run (skipping `if TYPE_CHECKING:` bodies)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path, packages=PACKAGES) -> dict[str, dict[str, int]]:
    """module -> {imported module -> line of its first import}, within `packages`."""
    files = {_module_name(path, root): path for package in packages for path in (root / package).rglob("*.py")}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges: dict[str, int] = {}
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[:len(here) - (node.level - 1)]
                    base = ".".join(here + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                while target and target not in files:  # `import a.b.c` where only a.b is ours, or a name in a.b
                    target = target.rpartition(".")[0]
                if target and target != name:  # a package naming one of its own attributes is no edge
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle (a -> b -> ... -> a) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def connect(start: str) -> None:  # Tarjan's algorithm, iterative (deep graphs, no recursion limit)
        nonlocal counter
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = []
    for component in components:
        members = set(component)
        first = min(component)
        if len(component) == 1:
            continue
        found.append(_path_back(graph, first, members))
    return sorted(found)


def _path_back(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """The shortest circle from `start` back to itself inside one component."""
    previous: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node]):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1] + [start]
            if child in members and child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no circle through {start}")


def describe(graph: dict[str, dict[str, int]], circle: list[str]) -> str:
    """`a -> b (a.py line 12) -> a (b.py line 3)`: each step with the line that imports."""
    steps = [circle[0]]
    for here, there in zip(circle, circle[1:]):
        steps.append(f"{there} (line {graph[here][there]} of {here})")
    return " -> ".join(steps)


def test_monitor_and_probes_have_no_import_circles():
    graph = import_graph(REPO)
    assert "monitor.config" in graph and "monitor.cli" in graph and "probes.base" in graph  # the walk found them
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(graph, circle) for circle in found)
    # (a group of modules that all reach each other is named by one circle through it; fix that
    # one and the test names the next)


def test_no_library_module_imports_the_command_line():
    graph = import_graph(REPO)
    offenders = [f"{module} imports {target} (line {line})" for module, edges in sorted(graph.items())
                 if module != CLI and not module.startswith(CLI + ".")
                 for target, line in sorted(edges.items()) if target == CLI or target.startswith(CLI + ".")]
    assert not offenders, "library modules import the command line:\n" + "\n".join(offenders)


def test_the_daemon_imports_none_of_the_test_only_references():
    # pysnmp and icmplib are in the `test` extra only: the encodings and the speed of the
    # hand-written paths are checked against them, the daemon must not need them.
    test_only = ("pysnmp", "pyasn1", "icmplib")
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offenders += [f"{path.relative_to(REPO)}:{node.lineno} imports {name}" for name in names
                              if name.split(".")[0] in test_only]
    assert not offenders, "\n".join(offenders)
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in dependencies if re.split(r"[<>=\[ ;]", d)[0].lower() in test_only]


def test_a_circle_through_a_function_level_import_is_found_and_named(tmp_path):
    """The check itself can fail: a made-up package with the two circles this code once had
    (exit codes in the CLI, wording in config), one of them hidden inside a function."""
    (tmp_path / "pkg" / "cli").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "cli" / "__init__.py").write_text("from pkg.cli import faults\nEXIT_CONFIG = 2\n")
    (tmp_path / "pkg" / "cli" / "faults.py").write_text("from pkg.cli import EXIT_CONFIG\n")
    (tmp_path / "pkg" / "config.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import unused\n\n"
        "def load():\n    from . import inventory\n    return inventory\n")
    (tmp_path / "pkg" / "inventory.py").write_text("from pkg.config import load\n")
    (tmp_path / "pkg" / "unused.py").write_text("from pkg import config\n")
    (tmp_path / "pkg" / "daemon.py").write_text("import pkg.cli.faults\n")
    graph = import_graph(tmp_path, ("pkg",))
    found = cycles(graph)
    assert [describe(graph, circle) for circle in found] == [
        "pkg.cli -> pkg.cli.faults (line 1 of pkg.cli) -> pkg.cli (line 1 of pkg.cli.faults)",
        "pkg.config -> pkg.inventory (line 6 of pkg.config) -> pkg.config (line 1 of pkg.inventory)",
    ]
    assert graph["pkg.daemon"] == {"pkg.cli.faults": 1}
    assert "pkg.unused" not in graph["pkg.config"]  # under TYPE_CHECKING: never runs
