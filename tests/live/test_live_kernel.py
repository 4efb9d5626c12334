"""LIVE: this machine's kernel, through tracefs.  Runs wherever root and the vmalloc
tracepoints are (CI runs as root on such a machine, and there a missing piece fails
instead of skipping); elsewhere it skips and says why.

Bounded: a recording stirs 200 threads and lasts about two seconds."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from vmapviz.kernel import Config
from vmapviz.live import recording
from vmapviz.live.events import AllocVmapArea, FreeVmapAreaNoflush

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACEFS = "/sys/kernel/tracing"
INSTANCE = os.path.join(TRACEFS, "instances", "vmapviz")


def _missing() -> str:
    """Why the live source cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root (tracefs and the vmalloc tracepoints are root's)"
    with open("/proc/filesystems") as f:
        if "tracefs" not in f.read():
            return "this kernel has no tracefs"
    return ""


def _require() -> None:
    why = _missing()
    if why and os.environ.get("CI"):
        pytest.fail(f"the live test must run under CI: {why}")
    if why:
        pytest.skip(why)


def _vmapviz(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "vmapviz", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@contextlib.contextmanager
def _tracefs_view():
    """tracefs as the kernel has it now: /sys/kernel/tracing if mounted, else a private
    mount in a temporary folder, unmounted afterwards (nothing else changes)."""
    if os.path.isdir(os.path.join(TRACEFS, "instances")):
        yield TRACEFS
        return
    with tempfile.TemporaryDirectory() as where:
        subprocess.run(["mount", "-t", "tracefs", "nodev", where], check=True)
        try:
            yield where
        finally:
            subprocess.run(["umount", where], check=True)


def _instance_gone() -> bool:
    with _tracefs_view() as root:
        return not os.path.exists(os.path.join(root, "instances", "vmapviz"))


def test_record_while_stirring_200_threads(tmp_path):
    _require()
    path = tmp_path / "live.jsonl"
    was_mounted = os.path.isdir(os.path.join(TRACEFS, "instances"))
    p = _vmapviz("record", "--live", str(path), "--stir", "200", "--json")
    out, err = p.communicate(timeout=60)
    if p.returncode == 2 and "tracepoint" in err and not os.environ.get("CI"):
        pytest.skip(err.strip())
    assert p.returncode == 0, err
    rec = recording.load(str(path))
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    assert rec.cpus == cpus and rec.kernel == os.uname().release
    # THEN a thread's kernel stack was seen: THREAD_SIZE 16 KiB + the guard page,
    # aligned to THREAD_ALIGN 16 KiB, inside the range the request gave
    stacks = [e for e in rec.events if type(e) is AllocVmapArea and (e.size, e.align) == (20480, 16384)
              and not e.failed]
    assert stacks
    assert any(e.vstart <= e.addr and e.addr + e.size - 1 <= e.vend for e in stacks)
    # AND nr_lazy_max is lazy_max_pages() of the simulator for this CPU count, which is
    # by hand fls(cpus) * 32 MiB / 4 KiB
    frees = [e for e in rec.events if type(e) is FreeVmapAreaNoflush]
    assert frees, "no free in the recording: the stirred stacks were not freed within 1 s"
    simulated = Config(nr_cpus=cpus, variant="modern").lazy_max_pages
    assert simulated == cpus.bit_length() * (32 << 20) // 4096
    assert {e.nr_lazy_max for e in frees} == {simulated}
    assert json.loads(out)["events"] == len(rec.events)
    # AND the trace instance is gone, and tracefs mounted as it was before
    assert _instance_gone()
    assert os.path.isdir(os.path.join(TRACEFS, "instances")) == was_mounted
    if not was_mounted:
        assert "mounted tracefs" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_removes_the_instance(tmp_path, sig):
    _require()
    assert _instance_gone(), "an instance is left from an earlier run"
    path = tmp_path / "live.jsonl"
    p = _vmapviz("record", "--live", str(path), "--seconds", "30", "--json")
    deadline = time.monotonic() + 20
    while not os.path.isdir(INSTANCE) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.isdir(INSTANCE), p.communicate(timeout=5)
    time.sleep(0.5)     # past the source's start: the recording runs
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert _instance_gone()
    assert recording.load(str(path)).kernel == os.uname().release   # what was read is kept


def test_a_second_source_is_refused_while_one_runs(tmp_path):
    _require()
    first = _vmapviz("record", "--live", str(tmp_path / "a.jsonl"), "--seconds", "30", "--json")
    try:
        deadline = time.monotonic() + 20
        while not os.path.isdir(INSTANCE) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = _vmapviz("record", "--live", str(tmp_path / "b.jsonl"), "--seconds", "1")
        out, err = second.communicate(timeout=20)
        assert second.returncode == 2
        assert err.count("\n") == 1 and "instances/vmapviz exists" in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    assert _instance_gone()
