"""Hostile inputs, surface by surface: fuzzers (hypothesis) for traces, lessons and
vmallocinfo dumps, with other scripts' digits, numbers too wide for the kernel, deep
nesting; and a bounded-resources run of each input surface under `prlimit --as` and a
timeout (a small input must not take unbounded work or memory).

What a problem must look like to pass: a trace, lesson or dump is read or refused with
one `FILE:LINE: problem`; an accepted one runs with kernel misuse as events, never a
Python exception; no input makes vmapviz read without bound.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import vmapviz
from vmapviz.kernel import Config, ConfigError, Kernel
from vmapviz.kernel.config import MAX_RAM_SIZE
from vmapviz.models import vmallocinfo as vi
from vmapviz.run.driver import Run
from vmapviz.teaching import lesson as lesson_mod
from vmapviz.workloads import TraceError, load

ROOT = Path(vmapviz.__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
ULONG_MAX = (1 << 64) - 1
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Digits str.isdigit() or int() take that are not ASCII: superscripts, Arabic-Indic,
# Devanagari, fullwidth.
UNICODE_DIGITS = "²¹³٣٤٠१२０９"
numbers = st.one_of(st.integers(0, 2 ** 70), st.just(ULONG_MAX), st.just(ULONG_MAX + 1),
                    st.integers(19, 30).map(lambda k: 10 ** k))
digit_text = st.one_of(st.text(alphabet="0123456789" + UNICODE_DIGITS, min_size=1, max_size=30),
                       st.just("9" * 5000))     # a 5,000-digit size


# -- the kernel: work per op bounded by what the kernel does ----------------------------------

@pytest.mark.parametrize("variant", ["vanilla", "posted", "merged", "modern"])
def test_a_touch_stops_at_the_first_unmapped_page(variant):
    # vmalloc(16384) maps 4 pages (and a guard page): a touch of 2^32 - 1 pages oopses at
    # the fifth, as the kernel does; nothing walks the other 4 billion
    k = Kernel(Config(nr_cpus=1, bits=64, variant=variant))
    addr = k.vmalloc(4 * 4096)
    k.drain_events()
    assert k.touch(addr, (1 << 32) - 1) == "fault"
    faults = [e for e in k.drain_events() if e.kind == "fault"]
    assert [f.addr for f in faults] == [addr + 4 * 4096]
    assert k.stats.tlb_misses == 4 and k.touch(addr, 4) == "ok"


def test_ram_size_is_capped():
    assert Config(ram_size=MAX_RAM_SIZE).num_physpages == MAX_RAM_SIZE // 4096
    for ram in (MAX_RAM_SIZE + 4096, 2 ** 64 - 4096):
        with pytest.raises(ConfigError, match="at most 16 GiB"):
            Config(ram_size=ram)


# -- vmallocinfo dumps ----------------------------------------------------------------------

def render(v: int, base: int) -> str:
    return f"0x{v:x}" if base == 16 else str(v)


@FUZZ
@given(start=numbers, end=numbers, size=numbers, pages=numbers,
       odd=st.sampled_from(["", "size", "pages", "start", "node"]), digits=digit_text)
@example(start=0x1000, end=0x2000, size=4096, pages=1, odd="size", digits="²")
@example(start=0x1000, end=0x2000, size=4096, pages=1, odd="pages", digits="¹")
def test_fuzz_a_dump_line_is_an_area_of_64_bit_numbers_or_malformed(start, end, size, pages, odd, digits):
    # the oracle: a line whose numbers are ASCII digits of at most 64 bits is an area
    # with exactly those numbers; any other is Malformed, with a short one-line reason
    want = {"start": start, "end": end, "size": size, "pages": pages, "node": 1}
    toks = {"start": f"0x{start:x}", "size": str(size), "pages": str(pages), "node": "1"}
    ascii_ok = True
    if odd:
        toks[odd] = ("0x" if odd == "start" else "") + digits
        ascii_ok = digits.isascii()
        if ascii_ok:   # (a number of thousands of digits is wide: int() would refuse it)
            want[odd] = ULONG_MAX + 1 if len(digits) > 100 else int(digits, 16 if odd == "start" else 10)
    line = f"{toks['start']}-0x{end:x} {toks['size']} f+0x1/0x2 pages={toks['pages']} N{toks['node']}=1 vmalloc"
    fits = all(v <= ULONG_MAX for v in want.values())
    if odd == "node" and not "0" <= digits[0] <= "9" and fits:
        # not an N<node>= token at all (N² is no node number): kept as an unknown token
        a = vi.parse_line(line, 1)
        assert a.nodes == () and a.extra == (f"N{digits}=1",)
        return
    try:
        a = vi.parse_line(line, 1)
    except vi.Malformed as e:
        assert not (fits and ascii_ok), line
        assert "\n" not in str(e) and len(str(e)) < 300
        return
    assert fits and ascii_ok, line
    assert (a.start, a.end, a.size, a.pages, a.nodes) == (want["start"], end, want["size"], want["pages"],
                                                           ((want["node"], 1),))


@FUZZ
@given(lines=st.lists(st.one_of(
    st.builds(lambda s, n, k: f"0x{s:x}-0x{s + n:x} {n} f+0x1/0x2 pages={k} vmalloc",
              st.integers(0, 2 ** 64 - 1).map(lambda x: x & ~0xFFF), st.integers(0, 2 ** 20).map(lambda x: x * 4096),
              st.integers(0, 2 ** 64 - 1)),
    st.text(st.characters(exclude_characters="\n\r"), max_size=80),
    digit_text.map(lambda d: f"0x1000-0x2000 {d} vmalloc")), min_size=1, max_size=20))
def test_fuzz_a_dump_is_summarised_or_refused_with_its_line(tmp_path, lines):
    path = tmp_path / "dump"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        dump = vi.read(str(path))
    except vi.VmallocinfoError as e:
        assert str(e).startswith(f"{path}") and "\n" not in str(e)
        return
    s = vi.summarize(dump, 4)
    assert s["areas"] == len(dump.areas) >= 1
    assert all(0 <= a.start <= ULONG_MAX and 0 <= a.end <= ULONG_MAX for a in dump.areas)
    for line, problem in dump.skipped:
        assert 1 <= line <= len(lines) and "\n" not in problem


def test_a_malformed_line_under_watch_is_reported_and_the_watch_goes_on(tmp_path):
    import io
    path = tmp_path / "vmallocinfo"
    good = "0x1000-0x3000 8192 f+0x1/0x2 pages=1 vmalloc\n"
    path.write_text(good)
    reads = iter([good + "0x5000-0x6000 ² vmalloc\n",                    # a hostile line
                  good + "0x5000-0x6000 ² vmalloc\n0x7000-0x9000 8192 g+0x1/0x2 pages=1 vmalloc\n"])

    def sleep(_):
        path.write_text(next(reads))
    out, err = io.StringIO(), io.StringIO()
    assert vi.watch(str(path), 1, cpus=1, out=out, err=err, iterations=2, sleep=sleep, stamp=lambda: "T") == 0
    assert err.getvalue() == f"T {path}:2: size '²' is not a number of bytes\n"   # once, when it came
    assert out.getvalue().splitlines()[-1].startswith("T +1 born -0 freed")


# -- lessons -------------------------------------------------------------------------------

toml_value = st.recursive(
    st.one_of(st.integers(-2 ** 70, 2 ** 70).map(str), st.integers(0, 200).map(str), st.text(alphabet="ab²٣ \"", max_size=8).map(json.dumps),
              st.sampled_from(["true", "1.5", "\"flush\"", "\"purge\"", "\"map\"", "\"address\""])),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
                            st.dictionaries(st.sampled_from(["op", "start", "end", "variant", "nr_cpus",
                                                             "tlb_flushes", "blocks_per_cpu", "x"]),
                                            inner, max_size=3)
                            .map(lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}")),
    max_leaves=8)
step_key = st.sampled_from(["run", "until", "call", "restart", "quiz", "highlight", "note", "expect", "bogus"])


@FUZZ
@given(steps=st.lists(st.dictionaries(step_key, toml_value, min_size=1, max_size=3), min_size=1, max_size=4),
       depth=st.sampled_from([0, 0, 0, 40, 100_000]))
def test_fuzz_a_lesson_is_refused_with_its_line_or_plays_to_its_end(tmp_path, steps, depth):
    body = ['title = "t"', 'workload = "agp-bug"']
    for s in steps:
        body.append("[[step]]")
        body += [f"{k} = {v}" for k, v in s.items()]
    if depth:
        body.append("[[step]]\nrun = " + "[" * depth + "]" * depth)
    path = tmp_path / "l.toml"
    path.write_text("\n".join(body) + "\n")
    try:
        lesson = lesson_mod.load(path)
    except lesson_mod.LessonError as e:
        message = str(e)
        assert message.startswith(f"{path}:") and message[len(str(path)) + 1:].split(":")[0].isdigit()
        assert "\n" not in message and len(message) < 1000
        return
    out = []
    lesson_mod.play(lesson, out.append)      # no TypeError mid-lesson: the checker saw every value
    assert len([line for line in out if line[:1].isdigit()]) == len(lesson.steps)


@pytest.mark.parametrize("body, problem", [
    (b'title = "t"\nworkload = "agp-bug"\n[[step]]\nnote = "caf\xe9"\n', "4: not UTF-8 text (byte 54), not a lesson"),
    (b'title = "t"\nworkload = "agp-bug"\n[[step]]\nrun = ' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
     "4: nested more than 32 deep"),
    (b'title = "t"\nworkload = "agp-bug"\n[[step]]\nrun = 3\nexpect = {op = 10, blocks_per_cpu = 3}\n',
     "5: expect: unknown number 'blocks_per_cpu'"),
    (b'title = "t"\nworkload = "agp-bug"\n[[step]]\nrun = 9223372036854775807\n',
     "4: run takes an op number from 0 to 1,000,000, not 9223372036854775807"),
    (b'title = "t"\nworkload = "agp-bug"\n' + b"[[step]]\nnote = \"n\"\n" * 1001, "2003: 1,001 steps: a lesson has at most 1,000"),
])
def test_hostile_lessons_are_refused_with_file_and_line(tmp_path, body, problem):
    path = tmp_path / "l.toml"
    path.write_bytes(body)
    with pytest.raises(lesson_mod.LessonError) as e:
        lesson_mod.load(path)
    assert str(e.value).startswith(f"{path}:{problem}")


def test_special_files_are_refused_as_lessons_and_traces_without_waiting(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)          # no writer: open() would wait for ever
    for path, what in ((fifo, "a pipe or FIFO"), ("/dev/zero", "a device"), (tmp_path, "a directory")):
        with pytest.raises(lesson_mod.LessonError, match=f"{path}: {what}, not a regular file"):
            lesson_mod.load(path)
        with pytest.raises(TraceError, match=f"{path}: {what}, not a regular file"):
            load(str(path))


# -- traces --------------------------------------------------------------------------------

HEADER = {"vmapviz": "trace", "version": 1, "workload": "t", "config": {"nr_cpus": 2, "bits": 64}}
CALL_ARGS = {"vmalloc": 1, "vfree": 1, "vmap": 1, "vunmap": 1, "vm_map_ram": 1, "vm_unmap_ram": 2,
             "touch": 2, "purge": 0, "vm_unmap_aliases": 0, "get_vm_area": 2, "remove_vm_area": 1}
arg = st.one_of(st.integers(0, 2 ** 65), st.sampled_from([0xFFFFC20000000000, (1 << 32) - 1, 4096 << 20]),
                digit_text, st.recursive(st.integers(0, 9), lambda x: st.lists(x, max_size=2), max_leaves=4))


@FUZZ
@given(ops=st.lists(st.tuples(st.sampled_from(sorted(CALL_ARGS)), st.integers(0, 2),
                              st.lists(arg, max_size=2)), max_size=10),
       ram=st.sampled_from([None, 4096, MAX_RAM_SIZE, 2 ** 64 - 4096]), deep=st.booleans())
def test_fuzz_a_trace_replays_with_misuse_as_events_or_is_refused_by_line(tmp_path, ops, ram, deep):
    header = json.loads(json.dumps(HEADER))
    if ram is not None:
        header["config"]["ram_size"] = ram
    lines = [json.dumps(header)]
    for call, cpu, args in ops:
        lines.append(json.dumps({"cpu": cpu, "call": call, "args": args[:CALL_ARGS[call]] +
                                 [4096] * max(0, CALL_ARGS[call] - len(args)), "result": None}))
    if deep:
        lines.append('{"cpu": 0, "call": "purge", "args": ' + "[" * 100_000 + "]" * 100_000 + "}")
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    try:
        workload = load(path)
        config = workload.config()
    except TraceError as e:
        message = str(e)
        assert message.startswith(f"{path}:") and "\n" not in message
        return
    assert not deep and (ram is None or ram <= MAX_RAM_SIZE)
    run = Run(workload, config)
    while run.step() is not None:          # misuse is a WARN/BUG/fault event, never an exception
        pass
    assert run.kernel.op == len(ops)


# -- bounded resources: every input surface under prlimit and a timeout -------------------------

AS_LIMIT = 1 << 30      # bytes of address space: a leak of the input's size would need far more


def bounded(argv: list[str], stdin=None, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = ["prlimit", f"--as={AS_LIMIT}", "--", sys.executable, "-m", "vmapviz", *argv]
    return subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bounded")
    touch = d / "touch.jsonl"      # a 3-line trace: vmalloc(16384), touch(addr, 2^32 - 1)
    k = Kernel(Config(nr_cpus=1, bits=64, seed=7))
    addr = k.vmalloc(16384)
    touch.write_text("\n".join(json.dumps(x) for x in (
        dict(HEADER, config={"nr_cpus": 1, "bits": 64, "seed": 7}),
        {"cpu": 0, "call": "vmalloc", "args": [16384], "result": addr},
        {"cpu": 0, "call": "touch", "args": [addr, (1 << 32) - 1], "result": "fault"})) + "\n")
    ram = d / "ram.jsonl"
    ram.write_text(json.dumps(dict(HEADER, config={"nr_cpus": 1, "bits": 64, "ram_size": 2 ** 64 - 4096})) + "\n"
                   + json.dumps({"cpu": 0, "call": "vmalloc", "args": [2 ** 40], "result": None}) + "\n")
    big = d / "big.jsonl"          # RAM at the cap, and vmalloc() of half of it: bounded by the cap
    conf = {"nr_cpus": 1, "bits": 64, "ram_size": MAX_RAM_SIZE, "seed": 7}
    addr = Kernel(Config(**conf)).vmalloc(MAX_RAM_SIZE // 2)
    assert addr is not None
    big.write_text(json.dumps(dict(HEADER, config=conf)) + "\n"
                   + json.dumps({"cpu": 0, "call": "vmalloc", "args": [MAX_RAM_SIZE // 2], "result": addr}) + "\n")
    lesson = d / "huge.toml"
    lesson.write_text('title = "t"\nworkload = "map-touch-unmap"\n[[step]]\nrun = 9223372036854775807\n')
    fifo = d / "fifo"
    os.mkfifo(fifo)
    return {"touch": str(touch), "ram": str(ram), "big": str(big), "lesson": str(lesson), "fifo": str(fifo)}


SURFACES = [  # (argv, stdin, status, what stderr says)
    (["replay", "{touch}"], None, 0, ""),
    (["replay", "{ram}"], None, 2, "ram_size must be a whole number of pages"),
    (["replay", "{big}"], None, 0, ""),
    (["replay", "/dev/zero"], None, 2, "a device, not a regular file"),
    (["replay", "{fifo}"], None, 2, "a pipe or FIFO, not a regular file"),
    (["vmallocinfo", "/dev/zero"], None, 2, "line longer than 65,536 bytes"),
    (["vmallocinfo", "/dev/urandom"], None, 2, "not a vmallocinfo file"),
    (["vmallocinfo", "-"], "/dev/zero", 2, "line longer than 65,536 bytes"),
    (["vmallocinfo", "-"], "/dev/urandom", 2, "not a vmallocinfo file"),
    (["tui", "--vmallocinfo", "/dev/zero"], None, 2, "a device, not a regular file"),
    (["tui", "--vmallocinfo", "{fifo}"], None, 2, "a pipe or FIFO, not a regular file"),
    (["lesson", "/dev/zero"], None, 2, "a device, not a regular file"),
    (["lesson", "{fifo}"], None, 2, "a pipe or FIFO, not a regular file"),
    (["lesson", "{hostile_lesson}"], None, 2, "run takes an op number from 0 to 1,000,000"),
]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
@pytest.mark.parametrize("argv, stdin, status, problem", SURFACES,
                         ids=[" ".join(a) + (f" <{s}" if s else "") for a, s, _, _ in SURFACES])
def test_each_input_surface_is_bounded(hostile, argv, stdin, status, problem):
    argv = [a.format(hostile_lesson=hostile["lesson"], **hostile) for a in argv]
    if stdin is None:
        p = bounded(argv, stdin=subprocess.DEVNULL)
    else:
        with open(stdin, "rb") as f:
            p = bounded(argv, stdin=f)
    err = p.stderr.decode()
    assert p.returncode == status, err
    assert problem in err and "Traceback" not in err and "MemoryError" not in err
