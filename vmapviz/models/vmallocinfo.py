"""/proc/vmallocinfo of any kernel since 2.6.26: parse it, summarise it, watch it change.

The kernel's `s_show()` (2.6.26 to 6.8) and `vmalloc_info_show()` (6.9+) print one line
per area:

    0x<start>-0x<end> <size> [<caller>] [pages=N] [phys=P] [ioremap] [sparse] [vmalloc]
                             [vmap] [user] [dma-coherent] [vpages] [N<node>=<pages>...]
    0x<start>-0x<end> <size> vm_map_ram          a vmap area with no vm_struct (3.10; 4.13+)
    0x<start>-0x<end> <size> unpurged vm_area    lazily freed, awaiting a purge (4.13+)

`size` is `end - start` and includes the guard page.  What changed between generations:

- 2.6.26-3.9: `vmlist` in address order, `0x%p` (real addresses), the caller by
  `sprint_symbol`/`%pS` (`func+0xoff/0xlen [module]`), `phys=%lx` without `0x`.
- 3.10: the walk moves to `vmap_area_list` (still address order) and prints `%pK`.
  Later 3.x/4.x print `phys=%pa` (`0x`, zero-padded).
- 4.13 (78c72746f56b): `vm_map_ram` and `unpurged vm_area` lines, interleaved in address
  order; 4.15: `%pK` hashes pointers when kernel.kptr_restrict is 0.
- 5.x (versions not verified): unpurged areas are printed after all the busy ones, first
  from an unsorted list, later from the purge tree (sorted, adjacent areas merged into
  one line).
- 6.9: one busy list and one lazy tree per vmap node, each in address order, printed
  node by node: the busy part of the file is made of ascending runs, and so is the
  unpurged tail.  `dma-coherent` and `sparse` are newer flags; the caller may carry a
  build id (`[module <build-id>]`).

Tokens this reader does not know are kept (`Area.extra`) and counted, never fatal: newer
kernels add fields.  A line it cannot read at all is skipped and reported with its number.

The same listing from the other tools (`FORMATS`, detected by `detect_format`):

- drgn's contrib/vmallocinfo.py: the same fields, the size as `%10d`, the caller as the
  bare symbol name (`prog.symbol(caller).name`, no offset) or `0x<addr>`; busy areas only;
- gdb's `lx-vmallocinfo` (scripts/gdb/linux/vmalloc.py): the size as `%10d`, the caller as
  the last word of gdb's pointer value, `<func+184>` (a decimal offset) or `0x<addr>`;
  busy areas only;
- crash's `kmem -v`: a header (`VMAP_AREA  VM_STRUCT  ADDRESS RANGE  SIZE`, or before
  vmap_area_list `VM_STRUCT  ADDRESS RANGE  SIZE`), then per area the structure
  addresses, `<start> - <end>` in bare hex and the size: no caller, flags or kind (every
  area reads as `vm_area`), only areas with a vm_struct.  Its prompt lines are skipped.
All three read kernel memory: their addresses are real.

Addresses are real, hashed or zeroed (`%pK` under kernel.kptr_restrict): a real dump has
page-aligned starts and `end - start == size` on every line; a zeroed one has 0 everywhere;
anything else is hashed.  Only real addresses say where areas lie (the layout).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TextIO

from ..files import InputError, lines, open_regular

PAGE_SIZE = 4096
PROC_PATH = "/proc/vmallocinfo"
FLAGS = ("ioremap", "sparse", "vmalloc", "vmap", "user", "dma-coherent", "vpages")
_FLAG_SET = frozenset(FLAGS)
# The kind of an area with a vm_struct, from its flags: the first of these it has.
_KIND_RANK = {"ioremap": 0, "sparse": 1, "vmalloc": 2, "vmap": 3}
VM_MAP_RAM, UNPURGED, VM_AREA = "vm_map_ram", "unpurged", "vm_area"
KINDS = ("vmalloc", "vmap", "ioremap", "sparse", VM_AREA, VM_MAP_RAM, UNPURGED)
REAL, HASHED, ZEROED = "real", "hashed", "zeroed"
PROC, DRGN, GDB, CRASH = "proc", "drgn", "gdb", "crash"
FORMATS = {PROC: "/proc/vmallocinfo", DRGN: "drgn contrib/vmallocinfo.py",
           GDB: "gdb lx-vmallocinfo", CRASH: "crash kmem -v"}
_TOOL_WIDTH = 10        # drgn and gdb print the size as %10d, the kernel as %7ld
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*", re.ASCII)
_GDB_CALLER = re.compile(r"<([A-Za-z_][A-Za-z0-9_.$]*)\+[0-9]+>", re.ASCII)
_CRASH_LINE = re.compile(r"\s*(?:[0-9a-f]{1,16}\s+)?[0-9a-f]{1,16}\s+([0-9a-f]{1,16}) - "
                         r"([0-9a-f]{1,16})\s+([0-9]{1,20})\s*", re.ASCII)
_CRASH_HEADERS = ("VMAP_AREA", "VM_STRUCT")
DETECT_LINES = 200      # lines read before the format is decided
# Bounds on what is read: a real line is under 300 bytes (6.9's N<node>= tokens
# included), a real file under a million lines; a file with more malformed lines than
# MAX_MALFORMED is not a vmallocinfo file (`yes`, /dev/urandom) and is refused.
MAX_BYTES = 256 << 20
MAX_MALFORMED = 1_000
ULONG_MAX = (1 << 64) - 1          # the widest number the kernel prints (%lu, %lx)
_DEC = re.compile(r"[0-9]+")        # ASCII digits only: str.isdigit() takes '²', int() does not
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_HEX_BARE = re.compile(r"(0x)?[0-9a-fA-F]+")

ADDRESS_ADVICE = {
    HASHED: "the addresses are hashed (%pK, kernel.kptr_restrict=0) and do not say where areas "
            "lie; as root with kernel.kptr_restrict=1 the file has real ones",
    ZEROED: "the addresses are zeroed (kernel.kptr_restrict=2, or 1 without CAP_SYSLOG); as root "
            "with kernel.kptr_restrict=1 the file has real ones",
}


class VmallocinfoError(Exception):
    """A file that cannot be read or holds no valid line: one line, for exit status 2."""


class Malformed(ValueError):
    """One line that is not a vmallocinfo line; the message names the problem."""


@dataclass(slots=True, eq=False)
class Area:
    """One line of the file."""

    line: int            # 1-based line number
    raw: str             # the line as printed, without its newline
    start: int
    end: int
    size: int            # bytes, guard page included
    kind: str            # one of KINDS
    caller: str | None = None        # "func+0x1a/0x30", or a bare address
    module: str | None = None        # "ext4" (a build id after it is dropped)
    pages: int | None = None         # pages=
    phys: int | None = None          # phys=
    flags: tuple[str, ...] = ()
    nodes: tuple[tuple[int, int], ...] = ()   # (node, pages) from N<node>=<pages>
    extra: tuple[str, ...] = ()      # tokens this reader does not know

    @property
    def who(self) -> str:
        """The caller as the summary groups it: the function without offset, and module."""
        if self.kind in (VM_MAP_RAM, UNPURGED):
            return "(vm_map_ram)" if self.kind == VM_MAP_RAM else "(unpurged vm_area)"
        if self.caller is None:
            return "(no caller)"
        name = self.caller.lstrip("<").partition("+")[0]
        return f"{name} [{self.module}]" if self.module else name


def _ulong(text: str, problem: str, pattern: re.Pattern = _DEC, base: int = 10) -> int:
    """A number as the kernel prints an unsigned long (ASCII digits, at most 64 bits);
    Malformed(problem) if it is not one, or says it is too wide."""
    if not pattern.fullmatch(text):
        raise Malformed(problem)
    digits = text[2:] if text[:2] == "0x" else text
    if len(digits.lstrip("0")) > (16 if base == 16 else 20) or int(digits, base) > ULONG_MAX:
        raise Malformed(f"{_brief(text)} is wider than 64 bits, the widest number the kernel prints")
    return int(digits, base)


def _brief(tok: str) -> str:
    return repr(tok) if len(tok) <= 40 else repr(tok[:40]) + f"... ({len(tok):,} characters)"


def _is_caller(tok: str, fmt: str = PROC) -> bool:
    """`%pS`: func+0xoff/0xlen, or a bare 0x address when kallsyms has no name for it;
    gdb's `<func+184>`; drgn's bare symbol name (only in a drgn listing, where a bare
    word after the size is the caller, not a flag this reader does not know)."""
    return (("+0x" in tok and "/0x" in tok) or (tok[:2] == "0x" and len(tok) > 2)
            or _GDB_CALLER.fullmatch(tok) is not None
            or fmt == DRGN and _SYMBOL.fullmatch(tok) is not None)


def _size_width(text: str) -> int:
    """The printf width of a line's size field, from the spaces before it (0 when the
    line has no range and size)."""
    rng_end = text.find(" ")
    if rng_end < 0:
        return 0
    rest = text[rng_end:]
    size = rest.lstrip(" ")
    digits = len(size) - len(size.lstrip("0123456789"))
    return len(rest) - len(size) - 1 + digits if digits else 0


def detect_format(lines: Iterable[str]) -> str:
    """Which tool printed a listing: crash by its header, drgn or gdb by their %10d size
    field (gdb by its `<func+off>` callers), else the kernel's own file."""
    wide = narrow = 0
    angle = False
    for text in lines:
        word = text.split(None, 1)[0] if text.strip() else ""
        if word in _CRASH_HEADERS or word == "crash>":
            return CRASH
        if not word.startswith("0x"):
            continue
        w = _size_width(text)
        wide += w == _TOOL_WIDTH
        narrow += 0 < w < _TOOL_WIDTH
        angle = angle or " <" in text
    if wide > narrow:
        return GDB if angle else DRGN
    return PROC


def parse_crash_line(text: str, line: int = 0) -> Area:
    """One area of crash's `kmem -v` (raises Malformed): the vmap_area and vm_struct
    addresses (one address before vmap_area_list), `<start> - <end>`, the size."""
    m = _CRASH_LINE.fullmatch(text)
    if m is None:
        raise Malformed("expected crash's `[VMAP_AREA] VM_STRUCT <start> - <end> <size>`")
    size = _ulong(m[3], f"size {_brief(m[3])} is not a number of bytes")
    return Area(line, text, int(m[1], 16), int(m[2], 16), size, VM_AREA)


def parse_line(text: str, line: int = 0, fmt: str = PROC) -> Area:
    """One line of /proc/vmallocinfo, or of drgn's or gdb's listing (`fmt`; raises
    Malformed)."""
    toks = text.split()
    if len(toks) < 2:
        raise Malformed("expected `0x<start>-0x<end> <size> ...`" if toks else "empty line")
    rng, size_tok = toks[0], toks[1]
    a, _, b = rng.partition("-")
    bad_range = f"{_brief(rng)} is not an address range 0x<start>-0x<end>"
    start, end = _ulong(a, bad_range, _HEX, 16), _ulong(b, bad_range, _HEX, 16)
    size = _ulong(size_tok, f"size {_brief(size_tok)} is not a number of bytes")
    n = len(toks)
    if n == 3 and toks[2] == "vm_map_ram":
        return Area(line, text, start, end, size, VM_MAP_RAM)
    if n == 4 and toks[2] == "unpurged" and toks[3] == "vm_area":
        return Area(line, text, start, end, size, UNPURGED)
    caller = module = pages = phys = None
    kind, rank = VM_AREA, len(_KIND_RANK)
    flags: list[str] = []
    nodes: list[tuple[int, int]] = []
    extra: list[str] = []
    i = 2
    if n > 2 and toks[2] not in _FLAG_SET and _is_caller(toks[2], fmt):
        caller, i = toks[2], 3
        if i < n and toks[i][0] == "[":        # [module] or [module build-id]
            j = i
            while not toks[j].endswith("]"):
                j += 1
                if j == n:
                    raise Malformed(f"unclosed module name {toks[i]!r}")
            module = toks[i][1:] if j > i else toks[i][1:-1]
            i = j + 1
    for tok in toks[i:]:
        if tok in _FLAG_SET:
            flags.append(tok)
            r = _KIND_RANK.get(tok, rank)
            if r < rank:
                kind, rank = tok, r
        elif tok[:6] == "pages=":
            pages = _ulong(tok[6:], f"{_brief(tok)}: pages= takes a number")
        elif tok[:5] == "phys=":
            phys = _ulong(tok[5:], f"{_brief(tok)}: phys= takes a hexadecimal address", _HEX_BARE, 16)
        elif tok[0] == "N" and "0" <= tok[1:2] <= "9":
            node, _, count = tok[1:].partition("=")
            bad = f"{_brief(tok)}: expected N<node>=<pages>"
            nodes.append((_ulong(node, bad), _ulong(count, bad)))
        else:
            extra.append(tok)
    return Area(line, text, start, end, size, kind, caller, module, pages, phys,
                tuple(flags), tuple(nodes), tuple(extra))


@dataclass
class Dump:
    """A whole file: its valid areas in file order, the lines skipped, the address kind."""

    name: str
    lines: int
    areas: list[Area]
    skipped: list[tuple[int, str]]     # (line, problem)
    addresses: str = REAL
    evidence: str = ""                 # why the addresses were judged hashed
    format: str = PROC                 # which tool printed it (FORMATS)

    def problems(self) -> list[str]:
        return [f"{self.name}:{line}: {problem}" for line, problem in self.skipped]


def address_kind(areas: Iterable[Area], page_size: int = PAGE_SIZE) -> tuple[str, str]:
    """REAL, HASHED or ZEROED, and the first line that gave hashing away."""
    zero = True
    evidence = ""
    mask = page_size - 1
    for a in areas:
        if a.start or a.end:
            zero = False
        if evidence:
            continue
        if a.start > a.end:
            evidence = f"line {a.line}: start {a.start:#x} is above end {a.end:#x}"
        elif a.start & mask:
            evidence = f"line {a.line}: start {a.start:#x} is not page-aligned"
        elif a.end - a.start != a.size:
            evidence = f"line {a.line}: end - start = {a.end - a.start} but size = {a.size}"
        if evidence and not zero:
            break
    if zero:
        return ZEROED, "every address is 0"
    return (HASHED, evidence) if evidence else (REAL, "")


def parse(lines: Iterable[str], name: str = "<input>", page_size: int = PAGE_SIZE) -> Dump:
    """Every line of a file; blank lines are ignored, malformed ones skipped and listed.
    Raises VmallocinfoError when no line is valid."""
    stream = (text.rstrip("\r\n") for text in lines)
    head = list(itertools.islice(stream, DETECT_LINES))   # the format, from the first lines
    fmt = detect_format(head)
    areas: list[Area] = []
    skipped: list[tuple[int, str]] = []
    n = 0
    for n, text in enumerate(itertools.chain(head, stream), 1):
        if not text.strip():
            continue
        try:
            if fmt != CRASH:
                areas.append(parse_line(text, n, fmt))
            elif text.split(None, 1)[0] not in (*_CRASH_HEADERS, "crash>"):
                areas.append(parse_crash_line(text, n))
        except Malformed as e:
            skipped.append((n, str(e)))
            if len(skipped) > MAX_MALFORMED:
                raise VmallocinfoError(f"{name}:{n}: more than {MAX_MALFORMED:,} malformed lines: not a "
                                       f"vmallocinfo file (line {skipped[0][0]}: {skipped[0][1]})")
    if not areas:
        first = f", line {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise VmallocinfoError(f"{name}: no valid vmallocinfo line ({n} line{'s' * (n != 1)}{first})")
    kind, evidence = address_kind(areas, page_size)
    return Dump(name, n, areas, skipped, kind, evidence, fmt)


def read(path: str = PROC_PATH, page_size: int = PAGE_SIZE, again: bool = False) -> Dump:
    """Read and parse a file (`-` is standard input), in bounded lines.  `again`: the
    file will be read again (watched), so it must be a regular file, not a pipe or a
    device.  Unreadable files raise VmallocinfoError with what to do about it."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            return parse(_text_lines(sys.stdin.buffer, name), name, page_size)
        with open_regular(path, "it is read again at every change") if again else open(path, "rb") as f:
            return parse(_text_lines(f, name), name, page_size)
    except InputError as e:
        raise VmallocinfoError(str(e)) from None
    except PermissionError:
        raise VmallocinfoError(
            f"{path}: permission denied: /proc/vmallocinfo is mode 0400 (root only) on current "
            f"kernels; run this as root (sudo), or save a copy as root "
            f"(`sudo cat /proc/vmallocinfo > vmallocinfo.txt`) and read that; for real addresses "
            f"also `sysctl kernel.kptr_restrict=1`") from None
    except FileNotFoundError:
        hint = " (not Linux, or no CONFIG_PROC_FS)" if path == PROC_PATH else ""
        raise VmallocinfoError(f"{path}: no such file{hint}") from None
    except IsADirectoryError:
        raise VmallocinfoError(f"{path}: is a directory") from None
    except OSError as e:
        raise VmallocinfoError(f"{path}: {e.strerror or e}") from None


def _text_lines(f, name: str) -> Iterator[str]:
    """The lines of a stream, bounded (files.lines), as text."""
    for _, raw in lines(f, name, MAX_BYTES):
        yield raw.decode("utf-8", errors="replace")


# -- the summary ----------------------------------------------------------------------

def online_cpus() -> int:
    """This machine's online CPUs, as num_online_cpus() counts them (sysconf)."""
    return os.cpu_count() or 1


def lazy_max_pages(cpus: int, page_size: int = PAGE_SIZE) -> int:
    """lazy_max_pages(): fls(num_online_cpus()) * 32 MiB of pages (2.6.28 to 6.x)."""
    return cpus.bit_length() * (32 * 1024 * 1024 // page_size)


@dataclass
class Layout:
    """Where the areas lie, from real addresses only.  The span is [lowest start, highest
    end) of every area, busy or unpurged (an unpurged area still holds its addresses);
    VMALLOC_START/END are not in the file (and KASLR moves them), so free space outside
    the span is not counted.  fragmentation = 1 - largest gap / free bytes in the span:
    0 when the free space is one hole, towards 1 when it is scattered in small ones."""

    start: int
    end: int
    used: int
    gaps: int
    largest_gap: tuple[int, int]

    @property
    def free(self) -> int:
        return self.end - self.start - self.used

    @property
    def fragmentation(self) -> float:
        largest = self.largest_gap[1] - self.largest_gap[0]
        return 1 - largest / self.free if self.free else 0.0


def layout(areas: list[Area]) -> Layout:
    """The span, bytes in use, and the holes between areas (overlaps merged)."""
    ordered = sorted(areas, key=lambda a: a.start)
    lo, hi = ordered[0].start, ordered[0].end
    used, gaps, best = 0, 0, (lo, lo)
    for a in ordered[1:]:
        if a.start > hi:
            used += hi - lo
            gaps += 1
            if a.start - hi > best[1] - best[0]:
                best = (hi, a.start)
            lo, hi = a.start, a.end
        elif a.end > hi:
            hi = a.end
    used += hi - lo
    return Layout(ordered[0].start, hi, used, gaps, best)


def file_order(areas: list[Area]) -> dict:
    """How the file is ordered: ascending runs of busy areas (one per vmap node on 6.9+,
    one on older kernels), and whether the unpurged areas all come after the busy ones."""
    runs, prev = 0, None
    last_busy = first_unpurged = None
    for i, a in enumerate(areas):
        if a.kind == UNPURGED:
            if first_unpurged is None:
                first_unpurged = i
            continue
        last_busy = i
        if prev is None or a.start < prev:
            runs += 1
        prev = a.start
    tail = (first_unpurged is not None and last_busy is not None and first_unpurged > last_busy)
    sorted_ = all(x.start <= y.start for x, y in zip(areas, areas[1:]))
    return {"sorted": sorted_, "busy_runs": runs, "unpurged_tail": tail}


def summarize(dump: Dump, cpus: int | None = None, page_size: int = PAGE_SIZE,
              top: int = 10) -> dict:
    """The summary, as --json prints it."""
    cpus = cpus or online_cpus()
    kinds: Counter[str] = Counter()
    by_who: dict[str, list[int]] = {}
    pages = unp_areas = unp_pages = 0
    unknown: Counter[str] = Counter()
    for a in dump.areas:
        kinds[a.kind] += 1
        if a.kind == UNPURGED:
            unp_areas += 1
            unp_pages += a.size // page_size    # vmap_lazy_nr counts va_end - va_start
        p = a.pages or 0
        pages += p
        row = by_who.get(a.who)
        if row is None:
            row = by_who[a.who] = [0, 0, 0]
        row[0] += 1
        row[1] += p
        row[2] += a.size
        if a.extra:
            unknown.update(a.extra)
    callers = sorted(by_who.items(), key=lambda kv: (-kv[1][1], -kv[1][2], kv[0]))
    lazy_max = lazy_max_pages(cpus, page_size)
    out = {
        "file": dump.name,
        "format": dump.format,
        "lines": dump.lines,
        "areas": len(dump.areas),
        "kinds": {k: kinds[k] for k in KINDS if kinds[k]},
        "callers": [{"caller": who, "areas": n, "pages": p, "bytes": b}
                    for who, (n, p, b) in callers[:top]],
        "pages": pages,
        "unpurged": {"areas": unp_areas, "pages": unp_pages},
        "lazy_max_pages": lazy_max,
        "cpus": cpus,
        "page_size": page_size,
        "addresses": dump.addresses,
        "evidence": dump.evidence,
        "unknown_tokens": dict(unknown.most_common()),
        "layout": None,
        "order": None,
        "skipped": [{"line": line, "problem": problem} for line, problem in dump.skipped],
    }
    if dump.addresses == REAL:
        lay = layout(dump.areas)
        out["layout"] = {"span": [lay.start, lay.end], "span_bytes": lay.end - lay.start,
                         "used_bytes": lay.used, "free_bytes": lay.free, "gaps": lay.gaps,
                         "largest_gap": list(lay.largest_gap),
                         "largest_gap_bytes": lay.largest_gap[1] - lay.largest_gap[0],
                         "fragmentation": round(lay.fragmentation, 4)}
        out["order"] = file_order(dump.areas)
    return out


# -- watching -------------------------------------------------------------------------

@dataclass
class Change:
    """What differs between two reads.  An area is its line: a busy area whose line is
    gone was freed (vfree/vunmap/iounmap), a new one was born; unpurged lines come when
    an area is freed lazily and go when a purge returns its addresses."""

    born: list[Area] = field(default_factory=list)
    freed: list[Area] = field(default_factory=list)
    queued: list[Area] = field(default_factory=list)   # new unpurged lines
    purged: list[Area] = field(default_factory=list)   # unpurged lines gone

    def __bool__(self) -> bool:
        return bool(self.born or self.freed or self.queued or self.purged)


def diff(old: Dump, new: Dump) -> Change:
    """Areas born and freed between two reads, matched by their lines (a multiset, so
    zeroed dumps with identical lines are counted right)."""
    before = Counter(a.raw for a in old.areas)
    after = Counter(a.raw for a in new.areas)
    gone, came = before - after, after - before
    ch = Change()
    for dump, counts, busy, lazy in ((new, came, ch.born, ch.queued), (old, gone, ch.freed, ch.purged)):
        if not counts:
            continue
        for a in dump.areas:
            if counts[a.raw] > 0:
                counts[a.raw] -= 1
                (lazy if a.kind == UNPURGED else busy).append(a)
    return ch


def _callers(areas: list[Area], most: int = 3) -> str:
    common = Counter(a.who for a in areas).most_common()
    text = ", ".join(f"{who} x{n}" for who, n in common[:most])
    return text + (f", +{len(common) - most} more" if len(common) > most else "")


def status_line(dump: Dump, cpus: int, page_size: int = PAGE_SIZE) -> str:
    """Busy areas and the unpurged count against lazy_max_pages()."""
    unp = [a for a in dump.areas if a.kind == UNPURGED]
    unp_pages = sum(a.size for a in unp) // page_size
    lazy_max = lazy_max_pages(cpus, page_size)
    return (f"busy {len(dump.areas) - len(unp):,}  unpurged {len(unp):,} areas "
            f"{unp_pages:,}/{lazy_max:,} pages ({100 * unp_pages / lazy_max:.0f}% of lazy_max_pages)")


def change_line(ch: Change, dump: Dump, cpus: int, page_size: int = PAGE_SIZE) -> str:
    """One line for a change: counts, then who was born and freed."""
    parts = [f"+{len(ch.born)} born -{len(ch.freed)} freed", status_line(dump, cpus, page_size)]
    if ch.queued or ch.purged:
        parts.append(f"lazy +{len(ch.queued)} -{len(ch.purged)}" + (" (purge)" if ch.purged else ""))
    if ch.born:
        parts.append(f"born: {_callers(ch.born)}")
    if ch.freed:
        parts.append(f"freed: {_callers(ch.freed)}")
    return " | ".join(parts)


def watch(path: str, interval: float = 1.0, cpus: int | None = None, page_size: int = PAGE_SIZE,
          out: TextIO | None = None, err: TextIO | None = None, iterations: int | None = None,
          sleep: Callable[[float], None] | None = None,
          stamp: Callable[[], str] = lambda: time.strftime("%H:%M:%S")) -> int:
    """Re-read `path` every `interval` seconds and print one line per change, for
    `iterations` re-reads (None: until interrupted).  The first read must succeed (it
    raises VmallocinfoError); a later failed read is reported on `err` and retried."""
    out, err = out or sys.stdout, err or sys.stderr
    cpus, sleep = cpus or online_cpus(), sleep or time.sleep
    prev = read(path, page_size, again=True)
    for problem in prev.problems():
        print(problem, file=err)
    print(f"{stamp()} {path}: {len(prev.areas):,} areas, addresses {prev.addresses} | "
          f"{status_line(prev, cpus, page_size)}", file=out, flush=True)
    done = 0
    while iterations is None or done < iterations:
        sleep(interval)
        done += 1
        try:
            cur = read(path, page_size, again=True)
        except VmallocinfoError as e:
            print(f"{stamp()} {e}", file=err, flush=True)
            continue
        seen = {(line, problem) for line, problem in prev.skipped}
        for line, problem in cur.skipped:
            if (line, problem) not in seen:
                print(f"{stamp()} {cur.name}:{line}: {problem}", file=err, flush=True)
        ch = diff(prev, cur)
        if ch:
            print(f"{stamp()} {change_line(ch, cur, cpus, page_size)}", file=out, flush=True)
        prev = cur
    return 0
