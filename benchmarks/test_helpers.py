"""The test helpers some benchmarks reuse (the browser, the key masher), loaded from
tests/ by their path: the benchmarks import the installed vmapviz (`pip install -e .`
in the checkout to measure) and edit no sys.path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parent.parent / "tests"


def load(path: str) -> ModuleType:
    """tests/<path> as a module named by its file's stem (as the tests import it)."""
    name = Path(path).stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / path)
        assert spec is not None and spec.loader is not None
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]
