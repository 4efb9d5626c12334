"""Recordings of the real kernel: the live-trace JSON Lines format, written by `vmapviz
record --live` and read by `replay-live`, and tracefs text captures read the same way.

Line 1, the header:

    {"vmapviz": "live-trace", "version": 1, "kernel": "6.18.44", "arch": "x86_64",
     "cpus": 2, "page_size": 4096, "seconds": 3.0, "stir": 200, "lost": 0,
     "vmallocinfo": {"addresses": "hashed", "lines": ["0x...-0x... 20480 ...", ...]}}

`cpus` is num_online_cpus() (what lazy_max_pages() counts), `lost` the events the
kernel dropped (trace_pipe's LOST lines), `vmallocinfo` /proc/vmallocinfo as read
when the recording began, with whether its addresses are real, hashed or zeroed.

Every other line is one event, in the order trace_pipe gave them:

    {"t": 262.524049, "cpu": 1, "task": "bash", "pid": 8788, "event": "alloc_vmap_area",
     "addr": N, "size": N, "align": N, "vstart": N, "vend": N, "failed": 0}
    {... "event": "free_vmap_area_noflush", "addr": N, "nr_lazy": N, "nr_lazy_max": N}
    {... "event": "purge_vmap_area_lazy", "start": N, "end": N, "npurged": N}

A text capture (`cat /sys/kernel/tracing/trace > t.txt`, or trace_pipe's output) is
read line by line with `events.parse_line`; its header lines (`#`) are skipped and the
machine is this one unless the caller says otherwise.  Either way a line that cannot
be read stops the load with its file, line and problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..models import vmallocinfo as vi
from .events import CLASSES, LiveError, Malformed, parse_line
from .stir import stir as run_stir
from .tracefs import TraceSource, cleanup_on_signals, machine

FORMAT, VERSION = "live-trace", 1
MAX_LINE = 64 * 1024        # bytes, an event line (under 300)
MAX_HEADER = 32 << 20       # bytes, the header: it holds the vmallocinfo snapshot
DRAIN_SECONDS = 1.0      # after --stir, how long the frees (RCU, then a kworker) get to show
HEADER_KEYS = {"kernel": str, "arch": str, "cpus": int, "page_size": int}


@dataclass
class Recording:
    """A header and its events, in trace order."""

    path: str
    kernel: str
    arch: str
    cpus: int
    page_size: int
    events: list = field(default_factory=list)
    vmallocinfo: list[str] = field(default_factory=list)
    addresses: str = ""       # the vmallocinfo snapshot's: real, hashed or zeroed
    lost: int = 0
    seconds: float = 0.0
    stir: int = 0
    interrupted: bool = False     # Ctrl+C, SIGTERM or SIGHUP ended the recording early

    def header(self) -> dict:
        return {"vmapviz": FORMAT, "version": VERSION, "kernel": self.kernel, "arch": self.arch,
                "cpus": self.cpus, "page_size": self.page_size, "seconds": self.seconds,
                "stir": self.stir, "lost": self.lost,
                "vmallocinfo": {"addresses": self.addresses, "lines": self.vmallocinfo}}

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(CLASSES, 0)
        for e in self.events:
            out[_name(e)] += 1
        return out


def _name(e) -> str:
    return next(n for n, c in CLASSES.items() if type(e) is c)


def event_json(e) -> dict:
    fields = dict(zip(e._fields, e))
    fields.pop("op")
    return {"t": fields.pop("ts"), "cpu": fields.pop("cpu"), "task": fields.pop("task"),
            "pid": fields.pop("pid"), "event": _name(e), **fields}


def write(rec: Recording, path: str) -> None:
    """The recording, written whole or not at all (a temporary file renamed)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".vmapviz-", suffix=".jsonl")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(rec.header()) + "\n")
            for e in rec.events:
                f.write(json.dumps(event_json(e)) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def snapshot_vmallocinfo(path: str = vi.PROC_PATH) -> tuple[list[str], str]:
    """/proc/vmallocinfo's lines now, and whether their addresses are real."""
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    dump = vi.parse(lines, path)
    return lines, vi.address_kind(dump.areas)[0] if dump.areas else ""


def record(seconds: float | None, stir: int = 0, tick: Callable[[float, int], None] | None = None,
           stop: threading.Event | None = None) -> Recording:
    """Record this machine's vmalloc events for `seconds` (default: while --stir runs,
    then DRAIN_SECONDS), stirring `stir` threads meanwhile.  `tick(elapsed, events)`
    reports progress.  Ctrl+C, SIGTERM or SIGHUP end it early: the recording holds
    what was read and says it was `interrupted`."""
    stop = stop or threading.Event()
    info = machine()
    rec = Recording("", info["kernel"], info["arch"], info["cpus"], info["page_size"], stir=stir)
    with cleanup_on_signals(), TraceSource() as src:
        stirrer = None
        t0 = time.monotonic()
        stirred_at = None
        try:
            rec.vmallocinfo, rec.addresses = snapshot_vmallocinfo()
            if stir:
                stirrer = threading.Thread(target=run_stir, args=(stir, stop), daemon=True)
                stirrer.start()
            while not stop.is_set():
                rec.events.extend(src.read(0.05))
                now = time.monotonic() - t0
                if tick:
                    tick(now, len(rec.events))
                if stirrer is not None and stirred_at is None and not stirrer.is_alive():
                    stirred_at = now
                if seconds is not None and now >= seconds:
                    break
                if seconds is None and stirred_at is not None and now >= stirred_at + DRAIN_SECONDS:
                    break
        except KeyboardInterrupt:
            stop.set()
            rec.interrupted = True
        rec.events.extend(src.read(0))
        rec.lost = src.lost
        rec.seconds = round(time.monotonic() - t0, 3)
        if stirrer is not None:
            stop.set()
            stirrer.join()
    for i, e in enumerate(rec.events, 1):   # sequence numbers from 1, in trace order
        rec.events[i - 1] = type(e)((i, *e[1:]))
    return rec


# -- reading ---------------------------------------------------------------------------

def load(path: str, cpus: int | None = None, page_size: int | None = None) -> Recording:
    """A live-trace JSONL file or a tracefs text capture (raises LiveError naming the
    file, line and problem).  `cpus`/`page_size` override a header's (and give a
    capture's machine, default this one)."""
    lines = _lines(path)
    first = next(((n, t) for n, t in lines if not t.startswith("#")), None)
    if first is None:
        raise LiveError(f"{path}: no events and no header: not a recording")
    if first[1].lstrip().startswith("{"):
        rec = _load_jsonl(path, first, lines)
    else:
        rec = _load_text(path, first, lines)
    if cpus is not None:
        rec.cpus = cpus
    if page_size is not None:
        rec.page_size = page_size
    return rec


def _lines(path: str):
    try:
        f = open(path, "rb")
    except OSError as e:
        raise LiveError(f"{path}: cannot read: {e.strerror or e}") from None
    with f:
        n = 0
        while raw := f.readline((MAX_HEADER if n == 0 else MAX_LINE) + 1):
            n += 1
            most = MAX_HEADER if n == 1 else MAX_LINE
            if len(raw) > most:
                raise LiveError(f"{path}:{n}: line longer than {most:,} bytes")
            try:
                text = raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError as e:
                raise LiveError(f"{path}:{n}: not UTF-8 text (byte {e.start + 1})") from None
            if text.strip():
                yield n, text


def _load_text(path: str, first, lines) -> Recording:
    info = machine()
    rec = Recording(path, info["kernel"], info["arch"], info["cpus"], info["page_size"])
    for n, text in [first, *lines]:
        if text.startswith("#"):
            continue
        try:
            e = parse_line(text, len(rec.events) + 1)
        except Malformed as err:
            raise LiveError(f"{path}:{n}: {err}") from None
        if e is not None:
            rec.events.append(e)
    return rec


def _json(path: str, n: int, text: str) -> dict:
    try:
        got = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise LiveError(f"{path}:{n}: bad JSON: {getattr(e, 'msg', e)}") from None
    if not isinstance(got, dict):
        raise LiveError(f"{path}:{n}: expected a JSON object")
    return got


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


def _load_jsonl(path: str, first, lines) -> Recording:
    n, text = first
    h = _json(path, n, text)
    if h.get("vmapviz") != FORMAT or h.get("version") != VERSION:
        raise LiveError(f"{path}:{n}: not a live-trace header (expected \"vmapviz\": \"{FORMAT}\", "
                        f"\"version\": {VERSION})")
    for key, typ in HEADER_KEYS.items():
        if not isinstance(h.get(key), typ) or typ is int and not _int(h[key]):
            raise LiveError(f"{path}:{n}: header: {key} must be {'a string' if typ is str else 'an integer'}")
    if not 1 <= h["cpus"] <= 4096:
        raise LiveError(f"{path}:{n}: header: cpus must be between 1 and 4096, not {h['cpus']}")
    if h["page_size"] < 4096 or h["page_size"] & (h["page_size"] - 1):
        raise LiveError(f"{path}:{n}: header: page_size must be a power of two of at least 4096")
    info = h.get("vmallocinfo") or {}
    vlines = info.get("lines", []) if isinstance(info, dict) else None
    if not isinstance(vlines, list) or not all(isinstance(x, str) for x in vlines):
        raise LiveError(f"{path}:{n}: header: vmallocinfo.lines must be a list of strings")
    rec = Recording(path, h["kernel"], h["arch"], h["cpus"], h["page_size"], vmallocinfo=vlines,
                    addresses=str(info.get("addresses", "")), lost=int(h.get("lost") or 0),
                    seconds=float(h.get("seconds") or 0), stir=int(h.get("stir") or 0))
    for n, text in lines:
        rec.events.append(_event(path, n, _json(path, n, text), len(rec.events) + 1))
    return rec


def _event(path: str, n: int, d: dict, seq: int):
    cls = CLASSES.get(d.get("event"))
    if cls is None:
        raise LiveError(f"{path}:{n}: event must be one of {', '.join(CLASSES)}, not {d.get('event')!r}")
    names = cls._fields[5:]
    for key in ("cpu", "pid", *names):
        if not _int(d.get(key)):
            raise LiveError(f"{path}:{n}: {d['event']}: {key} must be an unsigned integer, "
                            f"not {d.get(key)!r}")
    if not isinstance(d.get("t"), (int, float)) or isinstance(d.get("t"), bool):
        raise LiveError(f"{path}:{n}: t must be a timestamp in seconds")
    if not isinstance(d.get("task"), str):
        raise LiveError(f"{path}:{n}: task must be a string")
    return cls((seq, d["cpu"], float(d["t"]), d["task"], d["pid"], *(d[k] for k in names)))
