"""Typed events: what the simulated kernel did, in order, for any view to consume.

Events are immutable tuples of their fields, read by name.  Every event carries the op
number (one public API call is one op) and the CPU that ran it, plus structured fields
a view reads (never the text); `kind` groups them, from the one vocabulary KINDS;
`line()` gives the kernel-style text a log shows.

The kernel does not make events on its hot paths: it appends records, plain tuples
that a typed event is made of only when something reads it (`events_of`, the one
place that does).  A record is its event's class followed by the event's fields,
`(BlockAlloc, op, cpu, block, bit, nbits, addr)`, except that an op's Call and Return
are one record, `(Return, op, cpu, name, args, result, detail)`, appended when the
call returns: its Call goes before the op's first record.  Most ops are read by
no view (a run makes millions), and a plain tuple costs under half a typed event.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, Collection, Iterable, NamedTuple

Record = tuple[Any, ...]    # an event's class and its fields (see the module docstring)


class Kind(NamedTuple):
    """One kind of event: how filters name it, whether a summary lists it, and the word
    a log puts in front of it so that it stands out even in monochrome."""

    title: str
    notable: bool = False
    tag: str = ""


KINDS: dict[str, Kind] = {
    "call": Kind("calls"),
    "return": Kind("results"),
    "area": Kind("areas allocated and removed"),
    "lazy": Kind("areas freed lazily"),
    "purge": Kind("purges of the lazy areas"),
    "flush": Kind("TLB flushes", tag="TLB FLUSH"),
    "block": Kind("vmap blocks made and freed"),
    "bits": Kind("vmap block regions taken and dirtied"),
    "alias": Kind("dirty runs unmapped by vm_unmap_aliases"),
    "warn": Kind("WARNs and allocation failures", True, "WARN"),
    "bug": Kind("BUGs", True, "BUG"),
    "corrupt": Kind("the kernel's own corruption (misuse the C does not check)", True, "CORRUPTED"),
    "fault": Kind("oopses on unmapped pages", True, "OOPS"),
    "uaf": Kind("use-after-free accesses", True, "USE-AFTER-FREE"),
    "refused": Kind("calls this kernel does not have", True, "NO SUCH CALL"),
    "error": Kind("driver errors", True, "ERROR"),
}

# The cpu of events a kernel worker thread emits (modern's purge kworker), not a CPU's op.
KWORKER = -1

# What "run until the next ..." stops at: a name and the kinds that end the run.
UNTIL: dict[str, tuple[str, ...]] = {
    "purge": ("purge",),
    "flush": ("flush",),
    "block": ("block",),
    "warn": ("warn", "bug", "corrupt"),
}


class _EventType(type):
    """An Event class: a slotted tuple whose annotated fields read by name.  Every
    class made is listed in CLASSES (classes_of looks kinds up there)."""

    def __new__(mcls, name: str, bases: tuple, ns: dict):
        fields = tuple(ns.get("__annotations__", ()))
        ns["__slots__"] = ()
        ns["_fields"] = fields
        for i, field in enumerate(fields):
            assert field not in ns, f"{name}.{field}: an event field has no default"
            ns[field] = property(itemgetter(i))
        cls = super().__new__(mcls, name, bases, ns)
        CLASSES.append(cls)
        return cls


CLASSES: list[Any] = []     # every Event class, the generations' own included


class Event(tuple, metaclass=_EventType):
    """The base of every event.  An event is made from one tuple of all its fields in
    order, `Call((op, cpu, name, args))` (events_of does that from a record): tuple's
    own constructor, in C, a third of what a NamedTuple's costs.  Reads, equality,
    hashing, pickling and repr are a NamedTuple's."""

    if TYPE_CHECKING:
        _fields: tuple[str, ...]        # set by _EventType
    kind = ""

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({fields})"

    def line(self) -> str:
        """The kernel-style text a log shows."""
        raise NotImplementedError


class Call(Event):
    """A public call starts: `name(args)`."""
    op: int
    cpu: int
    name: str
    args: tuple
    kind = "call"

    def line(self) -> str:
        return f"{self.name}({', '.join(_fmt(a) for a in self.args)})"


class Return(Event):
    """A public call returns `result` (an address, None for NULL, or a value).  Its
    `detail` is kept as the body gave it: a str, or a template and its values
    (`("block #{}, bits {}-{}", id, first, last)`), formatted only when read, since
    most ops' details are never shown."""
    op: int
    cpu: int
    name: str
    args: tuple
    result: object
    detail: str
    kind = "return"

    def line(self) -> str:
        args = ", ".join(_fmt(a) for a in self.args)
        res = "" if self.result is _VOID else f" = {_fmt(self.result)}"
        det = f" [{self.detail}]" if self.detail else ""
        return f"{self.name}({args}){res}{det}"


def _detail(ret: Return) -> str:
    d = tuple.__getitem__(ret, 5)
    return d if type(d) is str else d[0].format(*d[1:])


Return.detail = property(_detail)     # type: ignore[assignment]


class _Void:
    """The result of a void function: one object, the same after a pickle round trip
    and with the same repr on every run (event streams are hashed by repr)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "VOID"

    def __reduce__(self) -> str:
        return "VOID"


_VOID = _Void()


def _fmt(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, int) and not isinstance(v, bool) and v > 0xFFFFF:
        return f"{v:#x}"
    return str(v)


class AreaAlloc(Event):
    """`fn` (alloc_vmap_area(), or __get_vm_area_node() before the rewrite) placed
    [start, end) after its walk passed `walk` areas."""
    op: int
    cpu: int
    start: int
    end: int
    area_kind: str
    walk: int
    fn: str
    kind = "area"

    def line(self) -> str:
        # v2.6.27 counts the vmlist nodes its loop examined; the rewrite, the areas its
        # search stepped past.
        walk = (f"examined {self.walk} vmlist nodes" if self.fn == "__get_vm_area_node"
                else f"walk passed {self.walk}")
        return (f"{self.fn}: {self.area_kind} {self.start:#x}-{self.end:#x} "
                f"({(self.end - self.start) // 1024} KiB, {walk})")


class AreaRemove(Event):
    """remove_vm_area() before the rewrite: the vm_struct left vmlist at once, after a
    walk that examined `walk` nodes."""
    op: int
    cpu: int
    start: int
    end: int
    walk: int
    kind = "area"

    def line(self) -> str:
        return (f"remove_vm_area: unlink {self.start:#x}-{self.end:#x} from vmlist "
                f"(examined {self.walk} nodes)")


class AreaLazyFree(Event):
    """free_unmap_vmap_area(): VM_LAZY_FREE set, pages added to vmap_lazy_nr."""
    op: int
    cpu: int
    start: int
    end: int
    lazy_nr: int
    kind = "lazy"

    def line(self) -> str:
        return f"lazy free {self.start:#x}-{self.end:#x}: vmap_lazy_nr = {self.lazy_nr}"


class Purge(Event):
    """__purge_vmap_area_lazy(): `nr_areas` areas, `nr_pages` pages, range [start, end)."""
    op: int
    cpu: int
    start: int
    end: int
    nr_areas: int
    nr_pages: int
    sync: bool
    force_flush: bool
    kind = "purge"

    def line(self) -> str:
        rng = f"{self.start:#x}-{self.end:#x}" if self.end else "empty range"
        return (f"__purge_vmap_area_lazy(sync={int(self.sync)}, force_flush={int(self.force_flush)}): "
                f"{self.nr_areas} areas, {self.nr_pages} pages, {rng}")


class TlbFlush(Event):
    """flush_tlb_kernel_range(start, end) on every CPU, `ipis` IPIs sent; `whole`: each
    CPU's whole TLB was emptied (x86's flush_tlb_all()), else only the range; `entries`
    TLB entries were dropped in all, `stale` of them for pages already freed."""
    op: int
    cpu: int
    start: int
    end: int
    ipis: int
    entries: int
    stale: int
    whole: bool
    kind = "flush"

    def line(self) -> str:
        how = "flush_tlb_all" if self.whole else "range"
        return (f"flush_tlb_kernel_range({self.start:#x}, {self.end:#x}) [{how}]: "
                f"{self.ipis} IPIs, {self.entries} TLB entries dropped ({self.stale} stale)")


class BlockNew(Event):
    """new_vmap_block(): block `block` of this CPU at [start, end)."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "block"

    def line(self) -> str:
        return f"new_vmap_block: #{self.block} {self.start:#x}-{self.end:#x} on cpu{self.cpu}'s free list"


class BlockFree(Event):
    """free_vmap_block(): every bit dirty, the block's area is freed lazily."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "block"

    def line(self) -> str:
        return f"free_vmap_block: #{self.block} {self.start:#x} fully dirty, its area freed lazily"


class FragmentedPurge(Event):
    """purge_fragmented_block(): block `block` has nothing in use and is retired
    (`forced` by an allocation failure, else by vm_unmap_aliases())."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    free: int
    dirty: int
    forced: bool
    kind = "block"

    def line(self) -> str:
        why = "forced" if self.forced else "free < VMAP_PURGE_THRESHOLD"
        return (f"purge_fragmented_block: #{self.block} {self.start:#x} (free {self.free} + "
                f"dirty {self.dirty}, nothing in use; {why})")


class BlockAlloc(Event):
    """vb_alloc() took bits [bit, bit + nbits) of block `block`: the pages at addr."""
    op: int
    cpu: int
    block: int
    bit: int
    nbits: int
    addr: int
    kind = "bits"

    def line(self) -> str:
        return f"vb_alloc: #{self.block} bits {self.bit}-{self.bit + self.nbits - 1} at {self.addr:#x}"


class BlockDirty(Event):
    """vb_free() set bits [bit, bit + nbits) of block `block` in its dirty map."""
    op: int
    cpu: int
    block: int
    bit: int
    nbits: int
    dirty: int      # the block's dirty count after it
    kind = "bits"

    def line(self) -> str:
        return f"vb_free: #{self.block} bits {self.bit}-{self.bit + self.nbits - 1} dirty ({self.dirty} in all)"


class AliasUnmap(Event):
    """vm_unmap_aliases() cleared the PTEs of a dirty run [start, end) of a block."""
    op: int
    cpu: int
    block: int
    start: int
    end: int
    kind = "alias"

    def line(self) -> str:
        return f"vm_unmap_aliases: unmap dirty run {self.start:#x}-{self.end:#x} of #{self.block}"


class Refused(Event):
    """A call the running generation does not have: it returns NULL and changes nothing."""
    op: int
    cpu: int
    call: str
    version: str
    kind = "refused"

    def line(self) -> str:
        return f"{self.call}() does not exist in {self.version}"


class Warn(Event):
    """A WARN_ON() or KERN_WARNING printk the kernel would print, in function `where`.
    `check` names the kernel's check that fired ("WARN_ON(!page)"...), for a view to
    tell apart the meanings of one function's WARNs; "warn_alloc" is warn_alloc()'s
    allocation-failure report, a pr_warn with a backtrace, not a WARNING."""
    op: int
    cpu: int
    where: str
    message: str
    check: str
    kind = "warn"

    def line(self) -> str:
        if self.check == "warn_alloc":
            return f"warn_alloc: {self.message}"
        return f"WARNING: at mm/vmalloc.c {self.where}: {self.message}"


class AllocFail(Event):
    """alloc_vmap_area() gave up after its purge and retry.  `restarted`: the retry
    searched again from ALIGN(vstart, align) (merged); posted's went on from where the
    first search stopped."""
    op: int
    cpu: int
    size: int
    message: str
    restarted: bool
    kind = "warn"

    def line(self) -> str:
        return self.message


class Bug(Event):
    """A BUG_ON() or oops: the real kernel would stop here; the simulator stops the call.
    `own`: not the kernel's BUG but the simulator's own refusal, where the C has no
    check and would go on with a corrupted state (the message says which)."""
    op: int
    cpu: int
    where: str
    message: str
    own: bool
    kind = "bug"

    def line(self) -> str:
        if self.own:
            return f"vmapviz refuses {self.where} (no check in the kernel): {self.message}"
        return f"kernel BUG at mm/vmalloc.c {self.where}: {self.message}"


class Corrupt(Event):
    """The kernel corrupted its own state: the C has no check for this misuse, and
    the simulator followed the C.  `what` is what is now inconsistent, `next` what the
    real kernel would do next; check() reports the state as the kernel's own
    corruption from here on."""
    op: int
    cpu: int
    where: str
    what: str
    next: str
    kind = "corrupt"

    def line(self) -> str:
        return f"kernel state corrupted in {self.where}() (no check in the C): {self.what}"


class Fault(Event):
    """A kernel access to an unmapped page: the oops a real kernel would print."""
    op: int
    cpu: int
    addr: int
    kind = "fault"

    def line(self) -> str:
        return f"BUG: unable to handle kernel paging request at {self.addr:#x}"


class UseAfterFree(Event):
    """An access that reached a freed page through a stale TLB entry or a lazy PTE."""
    op: int
    cpu: int
    addr: int
    pages: int
    how: str
    kind = "uaf"

    def line(self) -> str:
        more = f" (+{self.pages - 1} more pages)" if self.pages > 1 else ""
        return f"use-after-free at {self.addr:#x}{more} through {self.how}"


VOID = _VOID


# -- records --------------------------------------------------------------------------------


def events_of(records: Iterable[Record]) -> list[Any]:
    """The typed events the records stand for, in the order the kernel emitted them.

    Each record makes the event of its class from its fields; an op's record
    `(Return, op, ...)` makes its Call, put before the first record of its op (the
    inner records its body appended came before it), and its Return.  A record whose
    class is a NamedTuple's (the driver's DriverError) is made the same way.  Given a
    window that starts inside an op, that op's Call goes first: one event more than
    the window's records, before every other (Run.recent keeps the newest).  An op
    whose body raised a Python exception (a simulator bug, which the driver shows as
    an error) has no record of its own, so its Call is not made."""
    out: list[Any] = []
    make = tuple.__new__
    op, first = None, 0          # the op of the records read last, and where its events begin
    for r in records:
        cls = r[0]
        if r[1] != op:
            op, first = r[1], len(out)
        if cls is Return:
            out.insert(first, Call(r[1:5]))
        out.append(make(cls, r[1:]))
    return out


def classes_of(kinds: Collection[str]) -> frozenset[type]:
    """The record classes (a record's first item) whose records stand for an event of
    one of `kinds`: an op's record stands for its Call too."""
    classes: set[type] = {cls for cls in CLASSES if cls.kind in kinds}
    if "call" in kinds:
        classes.add(Return)
    return frozenset(classes)
