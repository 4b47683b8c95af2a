"""How skal.strategies is put together: no import cycle, one executor per kind of pool.

The import graph is read from the source (every ``import`` and ``from ...
import``, those inside functions included), not from what Python happened
to import, so a lazy import that closes a cycle is found too.
"""

import ast
import pathlib

import pytest

import skal

ROOT = pathlib.Path(skal.__file__).parent
#: The modules that execute a strategy's work for one kind of pool: the only
#: ones in skal.strategies whose code may name dask.
EXECUTORS = {"skal.strategies._pool", "skal.strategies._memory", "skal.strategies._dask"}


def _modules():
    """``{dotted name: (path, is_package)}`` of every module of skal."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["skal", *path.relative_to(ROOT).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph():
    """``{module: set of skal modules it imports}``, lazy imports included.

    ``from package import name`` is an import of ``package.name`` when that
    is a module, else of ``package``.
    """
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        package = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:
                        graph[name].add(sub)
                    elif target in modules:
                        graph[name].add(target)
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (or a module importing itself)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_lazy_import_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_import_graph_reads_imports_inside_functions():
    graph = import_graph()
    # _base imports the models only inside functions
    assert "skal.models" in graph["skal.strategies._rows"]
    assert "skal.strategies._pool" in graph["skal.strategies._base"]


def test_no_import_cycle_in_the_strategies():
    graph = import_graph()
    inside = {m: {w for w in ws if w.startswith("skal.strategies")}
              for m, ws in graph.items() if m.startswith("skal.strategies")}
    assert cycles(inside) == []


#: Cycles outside skal.strategies known when this test was written, to be
#: removed by their owners (skal.cli imports skal.session._cli lazily, which
#: imports skal.cli's ``_key_value`` back). Any other cycle fails.
def test_no_import_cycle_in_skal():
    assert cycles(import_graph()) == []


def _code_names(path):
    """Identifiers, attributes, imported names and string constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.alias):
            yield node.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


@pytest.mark.parametrize(
    "module", sorted(m for m in _modules() if m.startswith("skal.strategies") and m not in EXECUTORS)
)
def test_only_the_executors_know_about_dask(module):
    path, _ = _modules()[module]
    assert not [name for name in _code_names(path) if "dask" in name.lower()]


def test_strategies_wrap_their_pool_once():
    # every strategy module reaches its pool through as_pool, never through the
    # container helpers that ask the container's kind again
    for module, (path, _) in _modules().items():
        if not module.startswith("skal.strategies") or module in EXECUTORS:
            continue
        names = set(_code_names(path))
        assert not names & {"check_pool", "is_dask", "is_dataset", "take_rows", "iter_chunks"}, module
