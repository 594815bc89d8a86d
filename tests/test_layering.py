"""The modules of reference/ and conformance/ import one another without a cycle, so data flows
one way (README, "Layout"). The imports are read from the source with ast, those inside
functions included (an import deferred to call time is still a dependency). Importing a.b.c
runs a/__init__.py and a/b/__init__.py first, so it also imports those packages (but those
holding the importer, already running when it does); a package that discovers its modules
(pkgutil.iter_modules, as conformance/specs/ does) imports each of them."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference", "conformance")

# Imports that close a cycle today, each with the reason it stays; the test fails once a
# listed import no longer closes one (delete it from here then).
KNOWN = {}


def modules(root=ROOT):
    """{dotted name: path} of every module of PACKAGES (a package by its __init__.py)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_in(source, name, is_package, known_modules):
    """The modules of known_modules that the module `name` names in an import statement,
    anywhere in `source`."""
    here = name if is_package else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            named |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known_modules else base
                      for a in node.names}
    return {m for m in named if m in known_modules and m != name}


def _discovers(source):
    return any(isinstance(node, ast.Attribute) and node.attr == "iter_modules"
               for node in ast.walk(ast.parse(source)))


def graph(root=ROOT, leave_out=()):
    """{module: the modules its import runs}, without the imports in leave_out (pairs of
    importer and the module it names)."""
    found = modules(root)
    edges = {}
    for name, path in found.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        targets = set()
        for target in imports_in(source, name, is_package, found):
            if (name, target) in leave_out:
                continue
            parts = target.split(".")
            packages = {".".join(parts[:i]) for i in range(1, len(parts))}
            targets |= {target} | {p for p in packages if not name.startswith(p + ".")}
        if is_package and _discovers(source):
            targets |= {m for m in found if m.rpartition(".")[0] == name
                        and not m.rpartition(".")[2].startswith("_")}
        edges[name] = targets - {name}
    return edges


def find_cycle(edges):
    """One cycle of the directed graph {node: successors} as [a, b, ..., a], or None."""
    state, path = {}, []             # state: 1 on the current path, 2 done

    def visit(node):
        state[node] = 1
        path.append(node)
        for successor in sorted(edges.get(node, ())):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


# The finder itself ----------------------------------------------------------------------------

def test_the_cycle_finder_finds_cycles_and_only_cycles():
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}, "e": {"a"}})
    assert cycle == ["b", "c", "d", "b"]
    assert find_cycle({"z": {"y"}, "y": {"x"}, "x": {"z"}}) == ["x", "z", "y", "x"]


def test_imports_are_read_inside_functions_and_relative():
    known = {"p", "p.a", "p.b", "p.c", "p.q", "p.q.d", "numpy"}
    source = ("import numpy as np\nfrom p import a\n\n\ndef f():\n    from p.b import thing\n"
              "    if True:\n        import p.q.d\n\n\nclass C:\n    from . import c\n")
    assert imports_in(source, "p.x", False, known) == {"numpy", "p.a", "p.b", "p.q.d", "p.c"}
    assert imports_in("from .d import y\nfrom .. import b\n", "p.q", True, known) == \
        {"p.q.d", "p.b"}


def test_packages_and_discovery_are_followed(tmp_path):
    """conformance/specs/ discovers its modules: a module importing one spec imports them
    all, and a spec importing it back closes a cycle."""
    for name, text in {"reference/__init__.py": "",
                       "conformance/__init__.py": "",
                       "conformance/low.py": "def f():\n    from conformance.specs import one\n",
                       "conformance/specs/__init__.py": "import pkgutil\npkgutil.iter_modules",
                       "conformance/specs/_private.py": "from conformance import low\n",
                       "conformance/specs/one.py": "",
                       "conformance/specs/two.py": "from conformance.low import f\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    edges = graph(tmp_path)
    assert edges["conformance.specs"] == {"conformance.specs.one", "conformance.specs.two"}
    assert edges["conformance.low"] == {"conformance.specs", "conformance.specs.one"}
    assert edges["conformance.specs.two"] == {"conformance.low"}
    assert find_cycle(edges) == ["conformance.low", "conformance.specs",
                                 "conformance.specs.two", "conformance.low"]
    assert find_cycle(graph(tmp_path, leave_out={("conformance.low",
                                                  "conformance.specs.one")})) is None


# The repository --------------------------------------------------------------------------------

def test_no_import_cycle():
    cycle = find_cycle(graph(leave_out=KNOWN))
    assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_each_known_exception_still_closes_a_cycle():
    for (importer, imported), reason in KNOWN.items():
        others = set(KNOWN) - {(importer, imported)}
        assert imported in graph(leave_out=others)[importer], (importer, imported)
        assert find_cycle(graph(leave_out=others)), \
            f"{importer} -> {imported} closes no cycle now: delete it from KNOWN ({reason})"


def test_the_circles_of_issue_20_would_be_found():
    """gate importing plugin (for tensorflow_refused), statistics_noise importing statistics
    (for shared_draws): either import, put back, closes a cycle."""
    for importer, imported in (("conformance.gate", "conformance.plugin"),
                               ("conformance.statistics_noise", "conformance.statistics")):
        edges = graph(leave_out=KNOWN)
        edges[importer].add(imported)
        assert find_cycle(edges), (importer, imported)
