"""Hostile traces: every malformed input is one `file:line: problem` TraceError, never
another exception, and the loader reads a line at a time (nothing kept per op)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmapviz.workloads import TraceError, load
from vmapviz.workloads.base import CALLS, OPTIONAL_ARGS
from vmapviz.workloads.trace import MAX_LINE

HEADER = {"vmapviz": "trace", "version": 1, "workload": "x", "config": {"nr_cpus": 2, "bits": 64}}


def trace(tmp_path, *lines, header=HEADER, raw=None):
    path = tmp_path / "t.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join([json.dumps(header) if isinstance(header, dict) else header,
                                   *lines]) + "\n")
    return path


def refused(path):
    with pytest.raises(TraceError) as e:
        load(path).config()
    message = str(e.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}:")


def with_config(**conf):
    return dict(HEADER, config=conf)


@pytest.mark.parametrize("header, problem", [
    (with_config(vmalloc_start=4169138176.0), "1: config vmalloc_start must be a non-negative integer below 2**64 or null, not 4169138176.0"),
    (with_config(nr_cpus=True), "1: config nr_cpus must be a non-negative integer below 2**64, not True"),
    (with_config(bits=False), "1: config bits must be a non-negative integer below 2**64, not False"),
    (with_config(page_size=1), "1: config page_size must be a power of two of at least 4096, not 1"),
    (with_config(page_size=8), "1: config page_size must be a power of two of at least 4096, not 8"),
    (with_config(page_size=12288), "1: config page_size must be a power of two of at least 4096, not 12288"),
    (with_config(seed=2 ** 64), "1: config seed must be a non-negative integer below 2**64"),
    (with_config(variant=1), "1: config variant must be a string, not 1"),
    (with_config(nr_cpu=8), "1: unknown config key 'nr_cpu'"),
    (dict(HEADER, version=True), "1: unsupported trace version True"),
    (dict(HEADER, workload=[1]), "1: workload must be a string, not [1]"),
])
def test_bad_header_values(tmp_path, header, problem):
    assert refused(trace(tmp_path, header=header)).startswith(problem)


@pytest.mark.parametrize("line, problem", [
    ('{"cpu": 0, "call": [1], "args": []}', "2: unknown call [1]"),
    ('{"cpu": 0, "call": {"a": 1}, "args": []}', "2: unknown call {'a': 1}"),
    ('{"cpu": true, "call": "purge", "args": []}', "2: cpu must be a non-negative integer below 4096, not True"),
    ('{"cpu": 4096, "call": "purge", "args": []}', "2: cpu must be a non-negative integer below 4096, not 4096"),
    ('{"cpu": 0, "call": "vmalloc", "args": [true]}', "2: argument 'size' of vmalloc must be a non-negative integer below 2**64, not True"),
    ('{"cpu": 0, "call": "vmalloc", "args": [4096.0]}', "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "vmalloc", "args": [18446744073709551616]}', "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "vmalloc", "args": [1e999]}', "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "vmalloc", "args": [NaN]}', "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "vmalloc", "args": [' + "9" * 5000 + "]}", "2: bad JSON: Exceeds the limit"),
    ('{"cpu": 0, "call": "vmalloc", "args": [' + "9" * 4000 + "]}", "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "vmalloc", "args": ' + "[" * 50_000 + "]" * 10, "2: bad JSON: nested too deeply"),
    ('{"cpu": 0, "call": "vmalloc", "args": [' + "[" * 500 + "]" * 500 + "]}", "2: argument 'size' of vmalloc must be"),
    ('{"cpu": 0, "call": "purge", "args": [], "result": true}', "2: result must be an integer, a string or null, not True"),
    ('{"cpu": 0, "call": "purge", "args": [], "result": -1}', "2: result must be"),
    ('{"cpu": 0, "call": "purge", "args": {}}', "2: args must be a list, not {}"),
    ("[1, 2]", "2: expected an object with cpu, call, args"),
    ('"' + "x" * MAX_LINE + '"', f"2: line longer than {MAX_LINE:,} bytes"),
])
def test_bad_op_lines(tmp_path, line, problem):
    assert refused(trace(tmp_path, line)).startswith(problem)


def test_binary_files(tmp_path):
    # an ELF file: its header is not UTF-8; a file of zero bytes with no newline is one
    # line too long
    assert refused(trace(tmp_path, raw=b"\x7fELF\x02\x01\x01\x00\x00\x00\xe8\x00\n")) == \
        "1: not UTF-8 text (byte 11), not a vmapviz trace"
    assert refused(trace(tmp_path, raw=bytes(MAX_LINE + 10))) == f"1: line longer than {MAX_LINE:,} bytes"
    good = json.dumps(HEADER).encode() + b"\n"
    assert refused(trace(tmp_path, raw=good + b'{"cpu": 0, "call": "purge", "args": [], "result": "\xff"}\n')) \
        == "2: not UTF-8 text (byte 52), not a vmapviz trace"


def test_a_directory_names_its_path(tmp_path):
    with pytest.raises(TraceError) as e:
        load(tmp_path)
    assert str(e.value) == (f"{tmp_path}: a directory, not a regular file: a trace is read twice "
                            "(checked, then replayed); save it to a file")


def test_a_trace_changed_after_its_check_is_refused(tmp_path):
    path = trace(tmp_path, '{"cpu": 0, "call": "purge", "args": [], "result": null}')
    w = load(path)
    with open(path, "a") as f:      # another op appended between the check and the replay
        f.write('{"cpu": 0, "call": "vmalloc", "args": [[1]], "result": null}\n')
    with pytest.raises(TraceError, match="changed since it was checked"):
        w.source(w.config())


def test_a_new_width_derives_its_own_range(tmp_path):
    # a 64-bit header with its range; --bits 32 means the 32-bit range, not the header's
    header = with_config(nr_cpus=1, bits=64, vmalloc_start=0xFFFFC20000000000,
                         vmalloc_end=0xFFFFE20000000000, seed=7)
    path = trace(tmp_path, '{"cpu": 0, "call": "vmalloc", "args": [4096], "result": null}',
                 header=header)
    cfg = load(path).config(bits=32)
    assert (cfg.vmalloc_start, cfg.vmalloc_end, cfg.seed) == (0xF8800000, 0xFF7FE000, 7)
    # ... but an address that needs 64 bits cannot be replayed on 32
    wide = trace(tmp_path, '{"cpu": 0, "call": "vfree", "args": [18446675903988629504]}',
                 header=header)
    with pytest.raises(TraceError, match=r"t.jsonl:2: argument 0xffffc20000000000 does not fit "
                                         "in a 32-bit unsigned long"):
        load(wide).config(bits=32)


def test_the_replay_reads_the_file_as_it_runs(tmp_path):
    # nothing is kept per op: the workload holds counts, the source one parsed op
    lines = [json.dumps({"cpu": i % 2, "call": "purge", "args": [], "result": None}) for i in range(3000)]
    w = load(trace(tmp_path, *lines))
    assert w.nr_ops == 3000 and w.cpu_lines == {0: 2, 1: 3}
    assert not any(isinstance(v, (list, tuple)) and len(v) > 2 for v in vars(w).values())
    src = w.source(w.config())
    seen = 0
    while src.next() is not None:
        src.feed(None)
        seen += 1
    assert seen == 3000 and src.ended and src.mismatch_count == 0


# -- fuzzing ------------------------------------------------------------------------------

ULONG = st.integers(0, 2 ** 64 - 1)


@st.composite
def good_op(draw):
    call = draw(st.sampled_from(sorted(CALLS)))
    n = len(CALLS[call]) + draw(st.integers(0, len(OPTIONAL_ARGS.get(call, ()))))
    # an unsigned int (count, nr_pages) holds 32 bits, an unsigned long 64
    names = (CALLS[call] + OPTIONAL_ARGS.get(call, ()))[:n]
    args = [draw(st.integers(0, 2 ** 32 - 1) if a in ("count", "nr_pages") else ULONG) for a in names]
    result = draw(st.none() | ULONG | st.sampled_from(["ok", "fault", "use-after-free"]))
    return {"cpu": draw(st.integers(0, 1)), "call": call, "args": args, "result": result}


NOT_A_ULONG = (st.booleans() | st.floats(allow_nan=False) | st.integers(max_value=-1)
               | st.integers(min_value=2 ** 64) | st.text(max_size=3) | st.none()
               | st.lists(st.integers(0, 9), max_size=2))


@st.composite
def bad_op(draw):
    """A good op with exactly one defect, as JSON text."""
    op = draw(good_op())
    how = draw(st.sampled_from(["cpu", "call", "arg", "args", "result", "text", "json", "bytes"]))
    if how == "cpu":
        op["cpu"] = draw(NOT_A_ULONG | st.integers(4096, 2 ** 70))
    elif how == "call":
        op["call"] = draw(st.text(max_size=8).filter(lambda c: c not in CALLS) | NOT_A_ULONG)
    elif how == "arg" and op["args"]:
        op["args"][draw(st.integers(0, len(op["args"]) - 1))] = draw(NOT_A_ULONG)
    elif how == "args":   # too many, or one short of the required ones
        need, most = len(CALLS[op["call"]]), len(CALLS[op["call"]]) + len(OPTIONAL_ARGS.get(op["call"], ()))
        short = op["args"][:need - 1] if need else 1
        op["args"] = draw(st.sampled_from([op["args"] + [1] * (most + 1 - len(op["args"])), short]))
    elif how == "result":
        op["result"] = draw(st.booleans() | st.floats() | st.integers(max_value=-1) | st.lists(st.none(), max_size=1))
    elif how == "text":
        return draw(st.sampled_from(["[]", "1", '"op"', "null", "[" * 3000]))
    elif how == "json":
        text = json.dumps(op)
        return text[:draw(st.integers(0, len(text) - 1))] + "\x00"
    elif how == "bytes":
        return b"\xc3\x28" + json.dumps(op).encode()
    else:
        op["args"] = {"size": 1}
    return json.dumps(op)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.booleans(), good_op(), bad_op()), max_size=12))
def test_fuzz_a_trace_loads_or_names_its_first_bad_line(tmp_path, lines):
    raw, first_bad = [json.dumps(HEADER).encode()], None
    for n, (ok, good, bad) in enumerate(lines, start=2):
        text = json.dumps(good) if ok else bad
        raw.append(text if isinstance(text, bytes) else text.encode())
        if not ok and first_bad is None:
            first_bad = n
    path = trace(tmp_path, raw=b"\n".join(raw) + b"\n")
    if first_bad is None:
        w = load(path)
        assert w.nr_ops == len(lines)
    else:
        message = refused(path)
        assert message.startswith(f"{first_bad}: ") and len(message) < 400


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                    max_leaves=8)


@st.composite
def header_line(draw):
    conf = draw(st.dictionaries(st.sampled_from(["nr_cpus", "bits", "variant", "page_size", "vmalloc_start",
                                                 "vmalloc_end", "seed", "other"]),
                                JSON | ULONG | st.sampled_from([32, 64, 4096, "merged", "posted"]), max_size=7))
    head = dict(HEADER, config=conf)
    for key in draw(st.lists(st.sampled_from(["vmapviz", "version", "workload", "config"]), max_size=2)):
        head[key] = draw(JSON)
    return json.dumps(head)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=header_line() | st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
       ops=st.lists(JSON.map(json.dumps) | st.text(max_size=30), max_size=4))
def test_fuzz_any_header_and_lines_load_or_raise_trace_error(tmp_path, head, ops):
    path = trace(tmp_path, *ops, header=head)
    try:
        load(path).config()
    except TraceError as e:
        n = str(e).removeprefix(f"{path}:").split(":")[0]
        assert n.isdigit() and 1 <= int(n) <= 1 + sum(o.count("\n") + 1 for o in ops) + head.count("\n")
