"""Print vmapviz's import graph: one line per importing group, the groups it imports.

    python tools/import_graph.py            # groups: vmapviz.<x> (tui and kernel one level deeper)
    python tools/import_graph.py --modules  # every module

Reads the source with ast (every import, at module level or inside a function), so it
needs no imports of its own and runs on any checkout.  Kept out of the package.
"""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "vmapviz"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str) -> set[str]:
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("vmapviz")}


def group(mod: str, modules: set[str], depth: int | None) -> str:
    while mod not in modules:        # "from .x import name": drop the name
        mod = mod.rpartition(".")[0]
    if depth is None:
        return mod
    parts = mod.split(".")
    deep = parts[1:2] in (["tui"], ["kernel"])
    return ".".join(parts[:depth + 1 if deep else depth])


def main() -> None:
    depth = None if "--modules" in sys.argv else 2
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        src = group(name, modules, depth)
        for m in imports(path, name):
            dst = group(m, modules, depth)
            if dst != src and not src.startswith(dst + "."):
                graph[src].add(dst)
    for src in sorted(graph):
        print(f"{src} -> {', '.join(sorted(graph[src]))}")


if __name__ == "__main__":
    main()
