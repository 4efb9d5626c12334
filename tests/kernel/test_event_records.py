"""Event records: the kernel appends plain tuples; events_of() makes the typed events
they stand for, in the order the kernel emitted them (events.py's module docstring)."""

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.events import (KWORKER, AreaAlloc, BlockAlloc, BlockDirty, BlockNew, Call, Purge, Return,
                                   TlbFlush, Warn, classes_of, events_of)

TEMPLATE = ("block #{}, bits {}-{}", 2, 0, 3)
# Op 5: vm_map_ram(3) on CPU 1 took bits 0-3 of block #2, and a kworker purged after
# it returned; op 6: a touch with no inner event.
RECORDS = [
    (BlockAlloc, 5, 1, 2, 0, 4, 0x1000),
    (Return, 5, 1, "vm_map_ram", (3,), 0x1000, TEMPLATE),
    (Purge, 5, KWORKER, 0x1000, 0x5000, 1, 4, False, False),
    (Return, 6, 0, "touch", (0x1000, 1), "ok", ""),
]
CALL5 = (5, 1, "vm_map_ram", (3,))
CALL6 = (6, 0, "touch", (0x1000, 1))


def test_an_ops_record_makes_its_call_before_its_inner_events_and_its_return_after_them():
    got = events_of(RECORDS)
    assert [type(e) for e in got] == [Call, BlockAlloc, Return, Purge, Call, Return]
    assert got == [CALL5, (5, 1, 2, 0, 4, 0x1000), (*CALL5, 0x1000, TEMPLATE),
                   (5, KWORKER, 0x1000, 0x5000, 1, 4, False, False), CALL6, (*CALL6, "ok", "")]
    assert got[2].detail == "block #2, bits 0-3"    # the template, formatted when read
    assert got[1].addr == 0x1000 and got[3].cpu == KWORKER


def test_a_window_that_starts_inside_an_op_puts_that_ops_call_first():
    """The window lost op 5's BlockAlloc: op 5's Call goes first, one event more than
    the records (Run.recent keeps only the newest events, which never include it)."""
    got = events_of(RECORDS[1:])
    assert [type(e) for e in got] == [Call, Return, Purge, Call, Return]
    assert got[0] == CALL5


def test_the_kernel_drains_records_that_make_the_events_it_emitted():
    """Merged, one CPU: vm_map_ram(3) makes block #1 (its area first, then the block)
    and takes bits 0-3 (3 pages round up to order 2); vm_unmap_ram dirties them."""
    k = Kernel(Config(nr_cpus=1))
    addr = k.vm_map_ram(3)
    k.vm_unmap_ram(addr, 3)
    records = k.drain_records()
    assert [r[0] for r in records] == [AreaAlloc, BlockNew, BlockAlloc, Return, BlockDirty, Return]
    assert k.drain_records() == [] and k.drain_events() == []
    events = events_of(records)
    assert [e.kind for e in events] == ["call", "area", "block", "bits", "return", "call", "bits", "return"]
    assert [(e.op, e.name, e.args) for e in events if e.kind == "call"] == [
        (1, "vm_map_ram", (3,)), (2, "vm_unmap_ram", (addr, 3))]
    assert events[3].bit == 0 and events[3].nbits == 4 and events[6].dirty == 4


def test_the_records_of_a_kind_include_an_ops_record_for_calls():
    assert classes_of(["flush"]) == {TlbFlush}
    assert Warn in classes_of(["warn"]) and Return not in classes_of(["warn"])
    assert Return in classes_of(["call"]) and Return in classes_of(["return"])
    assert classes_of([]) == frozenset()
