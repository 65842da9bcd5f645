"""The harness's structure: no import cycles inside study/, and study/ reaches adapters only
through the registry (and the network kit, the public face of the shared trainer)."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

STUDY = Path(__file__).resolve().parents[1] / "study"
#: study modules allowed to import from ``adapters``, and why
ADAPTER_IMPORTS_ALLOWED = {
    "study.registry": "discovers the built-in adapters",
    "study.networks": "the public network kit re-exports the shared trainer of adapters/_torch",
}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (a lazy import that would
    close a cycle is still a cycle in the design)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def import_graph() -> nx.DiGraph:
    modules = {f"study.{p.stem}": p for p in STUDY.glob("*.py") if p.stem != "__main__"}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path):
            if target in modules and target != name:
                graph.add_edge(name, target)
            elif target.split(".")[0] == "adapters":
                graph.add_edge(name, "adapters")
    return graph


def test_no_import_cycles_inside_study():
    graph = import_graph().subgraph(n for n in import_graph() if n.startswith("study."))
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles in study/: {cycles}"


def test_study_reaches_adapters_only_through_the_registry_and_the_network_kit():
    graph = import_graph()
    importers = {source for source, target in graph.edges if target == "adapters"}
    assert importers <= set(ADAPTER_IMPORTS_ALLOWED), sorted(importers - set(ADAPTER_IMPORTS_ALLOWED))


def test_the_graph_sees_lazy_imports(tmp_path):
    """The check itself: an import inside a function is found (a cycle hidden that way counts)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from study.report import write_report\n    import study.compare\n")
    assert {"study.report", "study.compare", "study.report.write_report"} <= _imports(module)
