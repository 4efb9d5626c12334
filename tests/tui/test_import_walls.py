"""The walls between floors (issue 26): the TUI reads the kernel's public records only,
and the faces below the TUI never import it."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "vmapviz"
# What a view may know of the kernel: the event vocabulary, the public records, the registry.
KERNEL_FOR_VIEWS = {"vmapviz.kernel.events", "vmapviz.kernel.views", "vmapviz.kernel.generations"}


def imports(path: pathlib.Path) -> set[str]:
    """Every module `path` imports (at any depth of the file), resolved to absolute names;
    `from P import name` counts as P.name when that is a module, else as P."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else ()
            mod = ".".join(base + ((node.module,) if node.module else ()))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                is_module = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (PACKAGE.parent / sub.replace(".", "/") / "__init__.py").exists()
                found.add(sub if is_module else mod)
    return found


def test_the_tui_imports_only_events_views_and_generations_from_the_kernel():
    strays = {(str(p.relative_to(PACKAGE)), m) for p in (PACKAGE / "tui").rglob("*.py")
              for m in imports(p) if m.startswith("vmapviz.kernel") and m not in KERNEL_FOR_VIEWS}
    assert strays == set()


def test_the_walker_sees_a_stray_import(tmp_path):
    # the test above can fail: a module that reaches into a generation is seen
    probe = PACKAGE / "tui" / "words" / "explain_modern.py"
    assert any(m.startswith("vmapviz.kernel") for m in imports(probe))


# The one TUI module a floor below may read: the panel table, for a lesson's highlight names.
PANEL_TABLE = "vmapviz.tui.panels.table"


def test_the_run_models_and_teaching_never_import_the_tui():
    for floor in ("run", "models", "teaching", "kernel", "workloads"):
        for p in (PACKAGE / floor).rglob("*.py"):
            assert not {m for m in imports(p) if m != PANEL_TABLE and
                        (m.startswith("vmapviz.tui") or m.startswith("vmapviz.faces"))}, p


def test_the_panel_table_imports_no_textual_and_nothing_of_vmapviz():
    # so that a lesson can read it without the TUI: it names its widgets, loaded on use
    table = PACKAGE / "tui" / "panels" / "table.py"
    assert imports(table) == {"__future__", "importlib", "dataclasses", "typing"}
