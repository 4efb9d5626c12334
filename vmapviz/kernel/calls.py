"""The public calls of the simulated kernel and their arguments, typed as the C types them.

One table serves the kernel (which checks every call's arguments before any state
changes), the workloads and the trace format.  Arguments are non-negative ints that fit
their C type: an `unsigned long` of the configured width, or a 32-bit `unsigned int`.
A value the C type cannot hold (a negative size, a float, 2**64 on a 64-bit machine) is
not a call the kernel API can express, so it is refused before the op starts.
"""

from __future__ import annotations

from typing import NamedTuple

ULONG, UINT = "unsigned long", "unsigned int"
UINT_MAX = (1 << 32) - 1


class Arg(NamedTuple):
    name: str
    ctype: str


def _args(*spec: str) -> tuple[Arg, ...]:
    return tuple(Arg(name, UINT if name in ("count", "nr_pages") else ULONG) for name in spec)


# name -> (required arguments, optional arguments)
SIGNATURES: dict[str, tuple[tuple[Arg, ...], tuple[Arg, ...]]] = {
    "vmalloc": (_args("size"), ()),
    "vmalloc_align": (_args("size", "align"), ()),
    "vfree": (_args("addr"), ()),
    "vmap": (_args("nr_pages"), ()),
    "vunmap": (_args("addr"), ()),
    "get_vm_area": (_args("size", "flags"), _args("start", "end")),
    "remove_vm_area": (_args("addr"), ()),
    "find_vm_area": (_args("addr"), ()),
    "vmalloc_to_page": (_args("addr"), ()),
    "vm_map_ram": (_args("count"), ()),
    "vm_unmap_ram": (_args("addr", "count"), ()),
    "vm_unmap_aliases": ((), ()),
    "touch": (_args("addr", "nr_pages"), ()),
    "purge": ((), ()),
}

# Argument names of the calls a workload or a trace may make: all but find_vm_area(),
# whose result (a vm_struct) a trace cannot record.
CALLS: dict[str, tuple[str, ...]] = {name: tuple(a.name for a in req)
                                     for name, (req, _) in SIGNATURES.items() if name != "find_vm_area"}
OPTIONAL_ARGS: dict[str, tuple[str, ...]] = {name: tuple(a.name for a in opt)
                                             for name, (_, opt) in SIGNATURES.items() if opt}


def check_args(call: str, args: tuple, bits: int) -> None:
    """Raise TypeError for an argument that is not an int (bool included), ValueError
    for one its C type cannot hold or a wrong number of arguments."""
    required, optional = SIGNATURES[call]
    if not len(required) <= len(args) <= len(required) + len(optional):
        raise ValueError(f"{call}() takes {len(required)} arguments"
                         f"{f' (or {len(required) + len(optional)})' if optional else ''}, not {len(args)}")
    for arg, value in zip(required + optional, args):
        if type(value) is not int:
            raise TypeError(f"{call}(): {arg.name} must be an int, not {type(value).__name__}")
        width = bits if arg.ctype == ULONG else 32
        if value < 0 or value >> width:
            raise ValueError(f"{call}(): {arg.name} = {value} does not fit an {arg.ctype} "
                             f"of {width} bits")
