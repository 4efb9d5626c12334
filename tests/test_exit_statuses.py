"""Every command line path's exit status, against the README's table, in one table.

    0 ok · 1 replay: results differ · 2 bad input (one line on stderr) · 3 vmapviz failed
    130 interrupted (Ctrl+C, SIGTERM, SIGHUP) · 141 the output was closed early

Each row is a real process: `vmapviz ARGS`, fed and stopped as a user would (its output
closed before it writes, a signal once it is up, a terminal for the TUIs), and the status
it ends with.  A new command needs a row per status it can give; the README's table (read
here) must keep listing every status the rows expect.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driver_helpers import wait_for
import vmapviz
from vmapviz.faces import cli

ROOT = Path(vmapviz.__file__).resolve().parent.parent     # this checkout, from any directory
README = ROOT / "README.md"
DATA = ROOT / "tests" / "data"
DUMP = str(DATA / "vmallocinfo" / "v4.13-real.txt")
OK, DIFFER, BAD, CRASHED, INTERRUPTED, CLOSED = 0, 1, 2, 3, 130, 141
HEADER = {"vmapviz": "trace", "version": 1, "workload": "t", "config": {"nr_cpus": 1, "bits": 64, "seed": 7}}
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="100", LINES="30")


def vmapviz_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "vmapviz", *argv]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("exit")
    trace = d / "t.jsonl"
    assert cli.main(["run", "xen-pat", "--ops", "300", "--record", str(trace), "--json"]) == OK
    wrong = d / "wrong.jsonl"   # vmalloc(4096) cannot return 1: a result that differs
    wrong.write_text(json.dumps(HEADER) + "\n" + json.dumps(
        {"cpu": 0, "call": "vmalloc", "args": [4096], "result": 1}) + "\n")
    long = d / "long.jsonl"    # 1,000,000 purges: seconds to check and replay, however fast
    purge = json.dumps({"cpu": 0, "call": "purge", "args": [], "result": None}) + "\n"
    long.write_text(json.dumps(HEADER) + "\n" + purge * 1_000_000)
    lesson = d / "l.toml"
    lesson.write_text('title = "t"\nworkload = "agp-bug"\n[[step]]\nrun = 3\nexpect = {op = 3}\n')
    bad_lesson = d / "bad.toml"
    bad_lesson.write_text('title = "t"\nworkload = "agp-bug"\n[[step]]\nrun = 3\nexpect = {op = 4}\n')
    return {"trace": str(trace), "wrong": str(wrong), "long": str(long), "lesson": str(lesson),
            "bad_lesson": str(bad_lesson), "dir": str(d)}


def run(argv: list[str], stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(vmapviz_cmd(*argv), input=stdin, capture_output=True, timeout=timeout, env=ENV)


# -- 0, 1, 2: runs to their end -------------------------------------------------------------

ENDS = [  # (argv, status, a fragment of the one stderr line for status 2)
    (["run", "agp-bug"], OK, None),
    (["run", "map-touch-unmap", "--ops", "50", "--json"], OK, None),
    (["replay", "{trace}"], OK, None),
    (["replay", "{wrong}"], DIFFER, None),
    (["run", "{trace}", "--record", "{trace}"], BAD, "that is the trace being replayed"),
    (["replay", "/dev/zero"], BAD, "a device, not a regular file"),
    (["replay", "{dir}"], BAD, "a directory, not a regular file"),
    (["run", "no-such-workload"], BAD, "unknown workload"),
    (["run", "map-touch-unmap", "--ops", "١٠"], BAD, "digits 0-9"),
    (["workloads"], OK, None),
    (["variants"], OK, None),
    (["vmallocinfo", DUMP], OK, None),
    (["vmallocinfo", DUMP, "--top", "٣"], BAD, "digits 0-9"),
    (["vmallocinfo", DUMP, "--page-size", "٤٠٩٦"], BAD, "digits 0-9"),
    (["vmallocinfo", "/dev/zero"], BAD, "line longer than 65,536 bytes"),
    (["vmallocinfo", "/dev/urandom"], BAD, "malformed lines: not a vmallocinfo file"),
    (["vmallocinfo", "/nonexistent"], BAD, "no such file"),
    (["vmallocinfo", "--watch", "1", "/dev/zero"], BAD, "a device, not a regular file"),
    (["tui", "--vmallocinfo", "/dev/zero"], BAD, "a device, not a regular file"),
    (["tui", "--watch", "1"], BAD, "--watch needs --vmallocinfo"),
    (["scaling", "--threads", "1,2"], OK, None),
    (["scaling", "--threads", "١,٢"], BAD, "digits 0-9"),
    (["quiz", "agp-bug", "-n", "2"], OK, None),
    (["lesson", "list"], OK, None),
    (["lesson", "{lesson}"], OK, None),
    (["lesson", "{bad_lesson}"], DIFFER, None),    # a stated number differs, as a replay's
    (["lesson", "/dev/zero"], BAD, "a device, not a regular file"),
    (["lesson", "/dev/zero", "--tui"], BAD, "a device, not a regular file"),
    (["compare", "vm-map-ram-test"], BAD, None),
    (["serve", "--port", "-1"], BAD, "--port"),
    (["serve", "--port", "٨٨٥٠"], BAD, "digits 0-9"),
    (["screenshot", "--out", "{dir}/x.txt"], BAD, None),
    (["export", "--gif", "{dir}/x.gif", "--ops", "0", "--every", "1"], BAD, None),
]


@pytest.mark.parametrize("argv, status, problem", ENDS, ids=[" ".join(a) for a, _, _ in ENDS])
def test_a_command_that_ends_gives_its_status(files, argv, status, problem):
    p = run([a.format(**files) for a in argv])
    err = p.stderr.decode()
    assert p.returncode == status, err
    if status == BAD:
        assert err.strip().count("\n") == 0 and err.strip().startswith("vmapviz: ") and "Traceback" not in err
        assert problem is None or problem in err
    else:
        assert "Traceback" not in err


def test_standard_input_that_never_ends_is_refused(files):
    # `yes | vmapviz vmallocinfo -`: a stream of junk is refused after a bounded read
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    p = subprocess.run(vmapviz_cmd("vmallocinfo", "-"), stdin=yes.stdout, capture_output=True,
                       timeout=60, env=ENV)
    yes.kill()
    yes.wait()
    assert p.returncode == BAD and b"more than 1,000 malformed lines" in p.stderr


@pytest.mark.parametrize("how", ["<(cat T)", "cat T | /dev/stdin"])
def test_a_trace_that_cannot_be_read_twice_is_refused(files, how):
    cat = subprocess.Popen(["cat", files["trace"]], stdout=subprocess.PIPE)
    if how.startswith("<("):
        fd = cat.stdout.fileno()
        p = subprocess.run(vmapviz_cmd("replay", f"/dev/fd/{fd}"), pass_fds=(fd,), capture_output=True,
                           timeout=60, env=ENV)
    else:
        p = subprocess.run(vmapviz_cmd("replay", "/dev/stdin"), stdin=cat.stdout, capture_output=True,
                           timeout=60, env=ENV)
    cat.kill()
    cat.wait()
    assert p.returncode == BAD and b"a pipe or FIFO, not a regular file: a trace is read twice" in p.stderr


# -- 141: the reader went away ------------------------------------------------------------

CLOSED_OUTPUT = [["run", "agp-bug"], ["run", "agp-bug", "--json"], ["replay", "{trace}"], ["workloads"],
                 ["variants"], ["variants", "--json"], ["vmallocinfo", DUMP], ["vmallocinfo", DUMP, "--json"],
                 ["scaling", "--threads", "1,2"], ["scaling", "--threads", "1,2", "--json"],
                 ["quiz", "agp-bug", "-n", "2"], ["lesson", "list"], ["lesson", "{lesson}"]]


@pytest.mark.parametrize("argv", CLOSED_OUTPUT, ids=[" ".join(a) for a in CLOSED_OUTPUT])
def test_closed_output_gives_141(files, argv):
    read, write = os.pipe()
    os.close(read)     # `| head -0` that has already gone
    p = subprocess.run(vmapviz_cmd(*(a.format(**files) for a in argv)), stdout=write,
                       stderr=subprocess.PIPE, timeout=120, env=ENV)
    os.close(write)
    assert (p.returncode, p.stderr) == (CLOSED, b"")


# -- 130: interrupted --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SIGNALLED = [  # (argv, what stdout or stderr shows once it is up)
    (["run", "map-touch-unmap", "--ops", "100_000_000", "--json"], None),
    (["replay", "{long}", "--json"], None),
    (["vmallocinfo", "--watch", "0.2", DUMP], "areas, addresses real"),
    (["scaling", "--workload", "xfs-dir", "--cpus", "512", "--threads", "512"], None),
    (["serve", "--port", "{port}"], "serving on"),
]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("argv, ready", SIGNALLED, ids=[a[0] + ("-watch" if "--watch" in a else "")
                                                        for a, _ in SIGNALLED])
def test_a_signal_gives_130(files, argv, ready, sig):
    argv = [a.format(port=free_port(), **files) for a in argv]
    p = subprocess.Popen(vmapviz_cmd(*argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    seen = b""
    if ready is None:
        time.sleep(3)      # imported, and running
    else:
        end = time.monotonic() + 60
        while ready.encode() not in seen and time.monotonic() < end and p.poll() is None:
            if select.select([p.stdout], [], [], 0.2)[0]:
                seen += os.read(p.stdout.fileno(), 65536)
    assert p.poll() is None, seen
    p.send_signal(sig)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == INTERRUPTED, seen + out
    assert b"Traceback" not in seen + out


# The TUIs, on a terminal: the signal restores it (alternate screen off, mouse reporting
# off, cursor shown) and the status is 130.
RESTORE = {"alternate screen off": b"\x1b[?1049l", "mouse reporting off": b"\x1b[?1000l",
           "cursor shown": b"\x1b[?25h"}
TUIS = [
    (["tui", "vmalloc-churn"], b"vmalloc-churn"),
    # (the header names the dump by its path, which can push "real addresses" off its end)
    (["tui", "--vmallocinfo", DUMP], b"9 areas"),
    (["tui", "--vmallocinfo", DUMP, "--watch", "0.5"], b"9 areas"),
    (["compare", "map-touch-unmap"], b"vanilla"),
    (["lesson", "lazy-flush", "--tui"], b"lazy"),
]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the simulation's child process, run/child.py)."""
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, ValueError):
            continue
    return out


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def on_a_terminal(argv: list[str], ready: bytes, sig: int) -> tuple[int, bytes]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the app on the pty
        os.environ.update(ENV)
        os.execv(sys.executable, vmapviz_cmd(*argv))
    out = b""

    def read(until: bytes, seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while until not in out and time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    return
    read(b"\x1b[?1049h", 60)
    read(ready, 60)
    assert b"\x1b[?1049h" in out and ready in out, out[-2000:]
    start = len(out)
    time.sleep(0.5)
    kids = children(pid)
    # the simulation runs in a child process unless --in-process (a dump's TUI has none)
    assert bool(kids) == ("--vmallocinfo" not in argv), kids
    os.kill(pid, sig)
    read(b"\x1b[?1049l", 30)
    read(b"never", 1)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    wait_for(lambda: all(gone(k) for k in kids), 30)     # and it ends with the app
    return os.waitstatus_to_exitcode(status), out[start:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("argv, ready", TUIS, ids=[" ".join(a[:2]) + ("-watch" if "--watch" in a else "")
                                                   for a, _ in TUIS])
def test_a_tui_signalled_restores_the_terminal_and_gives_130(argv, ready, sig):
    status, tail = on_a_terminal(argv, ready, sig)
    assert {what: code in tail for what, code in RESTORE.items()} == {what: True for what in RESTORE}
    assert status == INTERRUPTED


# -- 3: vmapviz itself failed ------------------------------------------------------------

@pytest.mark.parametrize("argv, where, name", [
    (["tui", "vmalloc-churn"], "vmapviz.tui.app", "run_tui"),
    (["lesson", "lazy-flush", "--tui"], "vmapviz.tui.app", "run_tui"),
    (["compare"], "vmapviz.tui.screens.compare", "run_compare"),
    (["tui", "--vmallocinfo", DUMP], "vmapviz.tui.screens.vmallocinfo", "run_vmallocinfo_tui"),
])
def test_a_crashed_tui_gives_3(monkeypatch, argv, where, name):
    import importlib
    module = importlib.import_module(where)
    for code, status in ((0, OK), (130, INTERRUPTED), (1, CRASHED)):   # Textual exits 1 after a crash
        monkeypatch.setattr(module, name, lambda *a, c=code, **kw: c)
        assert cli.main(argv) == status


def test_out_of_memory_gives_3(monkeypatch, capsys):
    def boom(args):
        raise MemoryError
    monkeypatch.setitem(cli.COMMANDS, "workloads", boom)
    assert cli.main(["workloads"]) == CRASHED
    assert capsys.readouterr().err == "vmapviz: out of memory (MemoryError)\n"


def test_the_readme_table_lists_every_status_expected_here():
    text = README.read_text()
    table = text[text.index("| exit status | meaning |"):].split("\n\n", 1)[0]
    codes = re.findall(r"^\| (\d+) \|", table, re.M)
    assert sorted(map(int, codes)) == [OK, DIFFER, BAD, CRASHED, INTERRUPTED, CLOSED]


def test_serve_on_a_port_in_use_is_bad_input_and_never_says_serving():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run(vmapviz_cmd("serve", "--port", str(port)), capture_output=True, timeout=60, env=ENV)
    assert p.returncode == BAD and b"serving on" not in p.stdout
    assert p.stderr.decode().startswith(f"vmapviz: cannot listen on 127.0.0.1 port {port}: ")
