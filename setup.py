"""The optional compiled kernel: with VMAPVIZ_COMPILE=1, `pip install .` compiles the
simulated kernel's modules (vmapviz.kernel) with mypyc into C extensions; without it
(the default, and what CI tests first) the package is pure Python.  README: "A
compiled kernel".

The rest of the metadata is in pyproject.toml; build_backend.py adds mypy to the
build's requirements when the variable is set.  An editable install is refused with
the variable set: the extensions would sit beside the .py files in the checkout and
shadow them, so edits to the kernel would silently not run.
"""

import os
from pathlib import Path

from setuptools import setup

# Modules that stay interpreted in the compiled build: the registry, the config and
# the records (dataclasses built at import, NamedTuples), the counters (declared as
# views.Counters' annotations), the events (a metaclass), the package __init__.
INTERPRETED = {"__init__.py", "compiled.py", "config.py", "generations.py", "views.py", "calls.py", "stats.py",
               "events.py"}


def compiled_modules() -> list[str]:
    """The kernel's module files mypyc compiles, in a stable order."""
    kernel = Path("vmapviz/kernel")
    return sorted(str(p) for p in kernel.rglob("*.py")
                  if not (p.name in INTERPRETED and (p.parent == kernel or p.name == "events.py")))


def ext_modules() -> list:
    if os.environ.get("VMAPVIZ_COMPILE", "0") in ("", "0"):
        return []
    from mypyc.build import mypycify   # a build requirement only when compiling

    # mypy's own options here, not pyproject's [tool.mypy] (strict on a few files): the
    # compiled modules must type-check, as mypyc needs, in mypy's default mode.
    options = ["--config-file=", "--ignore-missing-imports"]
    return mypycify(options + compiled_modules(), group_name="vmapviz_kernel",
                    opt_level=os.environ.get("VMAPVIZ_COMPILE_OPT", "3"))


setup(ext_modules=ext_modules())
