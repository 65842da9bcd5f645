"""The harness's layers: each subpackage of ``study`` imports only its own layer and the layers
below it, ``study`` reaches the adapters only through the registry, and no import cycles."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "study"
#: lowest first: a module may import from its own layer and any layer before it
LAYERS = ("core", "data", "contract", "records", "execution", "tuning", "analysis", "publishing")
#: the top of the stack: the command-line entry points (``python -m study.NAME``), which may
#: import any layer; each command other than ``run``, ``commands`` and ``__main__`` only
#: re-exports the ``main`` of the module that implements it
COMMANDS = {"__init__", "__main__", "commands", "run", "tune", "tuning_summary", "report", "ensemble", "compare",
            "rank"}
#: what an adapter (built-in or third-party) may build on: never the runner, the store or the report
ADAPTER_LAYERS = ("core", "data", "contract")


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def study_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in STUDY.rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer's index (commands: above every layer)."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def import_graph() -> nx.DiGraph:
    modules = study_modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path):
            if target in modules and target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
            elif target.split(".")[0] == "adapters":
                graph.add_edge(name, "adapters")
    return graph


def test_every_module_lives_in_a_layer_or_is_a_command():
    loose = {p.stem for p in STUDY.glob("*.py")} - COMMANDS
    assert not loose, f"modules outside the layers: {sorted(loose)}"
    packages = {p.name for p in STUDY.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS), sorted(packages ^ set(LAYERS))


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_says_what_it_holds(layer):
    doc = ast.get_docstring(ast.parse((STUDY / layer / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 20, f"study/{layer}/__init__.py needs a one-paragraph docstring"


def test_no_module_imports_a_layer_above_its_own():
    upward = [(source, target) for source, target in import_graph().edges
              if target != "adapters" and layer_of(target) > layer_of(source)]
    assert not upward, f"imports against the layer order {LAYERS}: {upward}"


def test_no_import_cycles_inside_study():
    graph = import_graph()
    cycles = list(nx.simple_cycles(graph.subgraph(n for n in graph if n != "adapters")))
    assert not cycles, f"import cycles in study/: {cycles}"


def test_study_reaches_adapters_only_through_the_registry():
    importers = {source for source, target in import_graph().edges if target == "adapters"}
    assert importers == {"study.contract.registry"}, sorted(importers)


def test_command_shims_only_name_their_module():
    for name in COMMANDS - {"__init__", "__main__", "commands", "run"}:
        imported = {m for m in _imports(STUDY / f"{name}.py") if m.startswith("study.")}
        assert len({m.rsplit(".", 1)[0] for m in imported if m.count(".") >= 3}) == 1, (name, imported)


def test_adapters_build_only_on_the_lower_layers():
    for path in sorted((ROOT / "adapters").rglob("*.py")):
        used = {m for m in _imports(path) if m.startswith("study.")}
        above = sorted(m for m in used if m.split(".")[1] not in ADAPTER_LAYERS)
        assert not above, f"{path.relative_to(ROOT)} imports {above}"


def test_the_checks_see_lazy_imports_and_upward_edges(tmp_path):
    """The check itself: an import inside a function is found, and its layer is known."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from study.publishing.report import write_report\n    import study.analysis.compare\n")
    assert {"study.publishing.report", "study.analysis.compare"} <= _imports(module)
    assert layer_of("study.records.rows") < layer_of("study.execution.runner") < layer_of("study.run")


def test_the_readme_and_the_architecture_page_name_every_layer():
    """The README's layout and docs/architecture.md's layer table match the folders."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n## ", 3)]
    page = (ROOT / "docs" / "architecture.md").read_text()
    for layer in LAYERS:
        assert f"  {layer}/ " in layout, f"README's layout does not list study/{layer}/"
        assert f"| `study/{layer}` |" in page, f"docs/architecture.md does not list study/{layer}"
        modules = sorted(p.stem for p in (STUDY / layer).glob("*.py") if p.stem != "__init__")
        row = next(line for line in page.splitlines() if line.startswith(f"| `study/{layer}` |"))
        missing = [m for m in modules if f"`{m}`" not in row]
        assert not missing, f"docs/architecture.md's row for study/{layer} misses {missing}"
