"""vmapviz.kernel is the pure simulation: importing it must not pull in the TUI stack."""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_import_kernel_pulls_in_neither_textual_nor_rich():
    code = ("import sys, vmapviz.kernel; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
