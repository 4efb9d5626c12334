"""The compiled kernel's tests: build it as a user would (VMAPVIZ_COMPILE=1 pip install,
setup.py) from a copy of this checkout into a throwaway directory put first on the path,
and run the golden digests and the kernel tests against the compiled modules.

    python tools/check_compiled.py            # what .ci/run runs after the pure suite
    python tools/check_compiled.py -k digest  # extra arguments go to pytest

Skips, saying why, where no C compiler or Python headers are at hand; under CI (CI=true)
that is a failure.  pip fetches the build's setuptools and mypy.  The build uses -O1 (VMAPVIZ_COMPILE_OPT): the same code, compiled sooner.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = ["tests/test_golden_digests.py", "tests/kernel"]


def missing() -> str:
    """Why the compiled kernel cannot be built here ("" when it can)."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        return "no Python headers (Python.h)"
    return ""


def run(cmd: list[str], **kw) -> None:
    print("check_compiled: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main(pytest_args: list[str]) -> int:
    why = missing()
    if why:
        print(f"check_compiled: SKIPPED, the compiled kernel cannot be built here: {why}")
        return 1 if os.environ.get("CI") else 0
    with tempfile.TemporaryDirectory(prefix="vmapviz-compiled-") as tmp:
        src, site = os.path.join(tmp, "src"), os.path.join(tmp, "site")
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout.split("\n")
        for f in filter(None, files):
            if os.path.isfile(os.path.join(ROOT, f)):
                os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
                shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
        start = time.monotonic()
        env = dict(os.environ, VMAPVIZ_COMPILE="1", VMAPVIZ_COMPILE_OPT=os.environ.get("VMAPVIZ_COMPILE_OPT", "1"),
                   PIP_ROOT_USER_ACTION="ignore")
        # As a user builds it (pip's isolated build: setuptools, mypy), into a directory of
        # its own that goes first on the path; this environment serves the rest (textual,
        # pytest, hypothesis).
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, src], env=env)
        print(f"check_compiled: built in {time.monotonic() - start:.0f} s", flush=True)
        env = dict(os.environ, PYTHONPATH=site)
        # From the tests' copy, not from the checkout: its pure vmapviz would come first.
        check = ("import vmapviz.kernel as k; assert k.COMPILED, k.__file__; "
                 "print('check_compiled: the kernel under test:', k.BUILD, k.kernel.__file__)")
        run([sys.executable, "-c", check], cwd=tmp, env=env)
        shutil.copytree(os.path.join(src, "tests"), os.path.join(tmp, "tests"))
        start = time.monotonic()
        code = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS,
                               *pytest_args], cwd=tmp, env=env).returncode
        print(f"check_compiled: tests took {time.monotonic() - start:.0f} s", flush=True)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
