"""The build backend: setuptools' own, plus mypy as a build requirement when
VMAPVIZ_COMPILE=1 asks for the compiled kernel (setup.py), and a clear refusal of an
editable install with it (the extensions would shadow the checkout's .py files)."""

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403 - every hook not overridden here

REFUSED = ("vmapviz: VMAPVIZ_COMPILE=1 builds a wheel, not an editable install (the compiled "
           "modules would shadow the .py files you edit): use `VMAPVIZ_COMPILE=1 pip install .`, "
           "or unset it for `pip install -e .`")


def compiling() -> bool:
    return os.environ.get("VMAPVIZ_COMPILE", "0") not in ("", "0")


def get_requires_for_build_wheel(config_settings=None):
    """setuptools' requirements (found by running setup.py, so without compiling: mypy
    is not there yet), and mypy when compiling."""
    if not compiling():
        return _setuptools.get_requires_for_build_wheel(config_settings)
    saved = os.environ.pop("VMAPVIZ_COMPILE")
    try:
        return _setuptools.get_requires_for_build_wheel(config_settings) + ["mypy>=1.10"]
    finally:
        os.environ["VMAPVIZ_COMPILE"] = saved


def get_requires_for_build_editable(config_settings=None):
    if compiling():
        raise SystemExit(REFUSED)
    return _setuptools.get_requires_for_build_editable(config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if compiling():
        raise SystemExit(REFUSED)
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
