"""The build backend: setuptools' own, plus mypy as a build requirement when
VMAPVIZ_COMPILE=1 asks for the compiled kernel (setup.py), and a clear refusal of an
editable install with it (the extensions would shadow the checkout's .py files)."""

import os
from contextlib import contextmanager

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403 - every hook not overridden here

REFUSED = ("vmapviz: VMAPVIZ_COMPILE=1 builds a wheel, not an editable install (the compiled "
           "modules would shadow the .py files you edit): use `VMAPVIZ_COMPILE=1 pip install .`, "
           "or unset it for `pip install -e .`")


def compiling() -> bool:
    return os.environ.get("VMAPVIZ_COMPILE", "0") not in ("", "0")


@contextmanager
def pure():
    """setup.py run as for the pure package: for the hooks that only read its metadata
    (mypy is not installed yet when the requirements are asked for)."""
    saved = os.environ.pop("VMAPVIZ_COMPILE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["VMAPVIZ_COMPILE"] = saved


def get_requires_for_build_wheel(config_settings=None):
    extra = ["mypy>=1.10"] if compiling() else []
    with pure():
        return _setuptools.get_requires_for_build_wheel(config_settings) + extra


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with pure():
        return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def get_requires_for_build_editable(config_settings=None):
    if compiling():
        raise SystemExit(REFUSED)
    return _setuptools.get_requires_for_build_editable(config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if compiling():
        raise SystemExit(REFUSED)
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
