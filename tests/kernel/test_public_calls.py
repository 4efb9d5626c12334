"""The protocol every public call of Kernel follows (kernel.py, "one op"), on every
generation: the arguments are checked before the CPU, either failure raises before
anything changes; a call that runs is one op, numbered, with exactly one Return record
naming it; an allocating call that returns NULL counts as failed, a refused one does not.

Each call is written out in full (no helper on the hot path), so this file checks each
one rather than the helper they once shared.

The kernel compiled by mypyc (README, "A compiled kernel") checks the annotated int types
at the call itself, before the call's own checks: a value that is not an int raises
mypyc's TypeError, and a bool arrives as the int 0 or 1.
"""

import pytest

from vmapviz.kernel import COMPILED, Config, Kernel
from vmapviz.kernel.calls import SIGNATURES
from vmapviz.kernel.events import Return
from vmapviz.kernel.generations import NAMES

P = 4096
ALLOCATING = {"vmalloc", "vmalloc_align", "vmap", "vm_map_ram", "get_vm_area"}


def kernel(gen, cpus=2):
    return Kernel(Config(nr_cpus=cpus, bits=64, variant=gen))


def good_args(k, name):
    """Arguments a call takes without misuse on a fresh kernel (the address ones name an
    area made for them, or 0 where the generation refuses the call that makes it)."""
    if name in ("vfree", "find_vm_area", "vmalloc_to_page"):
        return (k.vmalloc(P),)
    if name == "vunmap":
        return (k.vmap(1),)
    if name == "remove_vm_area":
        return (k.get_vm_area(P, 0),)
    if name == "touch":
        return (k.vmalloc(P), 1)
    if name == "vm_unmap_ram":
        return (k.vm_map_ram(1) or 0, 1)
    return {"vmalloc": (P,), "vmalloc_align": (P, 2 * P), "vmap": (1,), "get_vm_area": (P, 0),
            "vm_map_ram": (1,), "vm_unmap_aliases": (), "purge": ()}[name]


def compiled_view(value):
    """What the compiled kernel's call sees of a value passed for an int: the int, or
    TypeError (mypyc's own); None where the call's own check sees it (pure Python)."""
    if not COMPILED or type(value) is int:
        return None
    return int(value) if type(value) is bool else TypeError


def state(k):
    return k.op, k.stats.ops, list(k.events)


@pytest.mark.parametrize("gen", NAMES)
@pytest.mark.parametrize("name", sorted(SIGNATURES))
@pytest.mark.parametrize("cpu", [2, -1, True, "0", None])
def test_a_cpu_that_is_not_online_raises_before_the_op(gen, name, cpu):
    k = kernel(gen)
    args = good_args(k, name)
    before = state(k)
    seen = compiled_view(cpu)
    if seen is TypeError:
        with pytest.raises(TypeError):
            getattr(k, name)(*args, cpu=cpu)
    elif seen is not None:                      # True is CPU 1 to the compiled kernel
        getattr(k, name)(*args, cpu=cpu)
        assert k.op == before[0] + 1
        return
    else:
        with pytest.raises(ValueError, match=f"cpu {cpu!r} is not online"):
            getattr(k, name)(*args, cpu=cpu)
    assert state(k) == before


@pytest.mark.parametrize("gen", NAMES)
@pytest.mark.parametrize("name", sorted(n for n, (req, _) in SIGNATURES.items() if req))
@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1 << 64, ValueError), ("4096", TypeError),
                                        (False, TypeError), (4096.0, TypeError)])
def test_a_bad_argument_raises_its_own_error_first_even_on_an_offline_cpu(gen, name, bad, error):
    k = kernel(gen)
    args = good_args(k, name)
    first = SIGNATURES[name][0][0]
    before = state(k)
    seen = compiled_view(bad)
    if seen is TypeError:
        error, match = TypeError, None
    elif seen is not None:                      # False is 0 to the compiled kernel: the CPU fails
        error, match = ValueError, "cpu 99 is not online"
    else:
        match = f"{name}\\(\\): {first.name}"
    with pytest.raises(error, match=match):
        getattr(k, name)(bad, *args[1:], cpu=99)
    assert state(k) == before


@pytest.mark.parametrize("gen", NAMES)
def test_each_call_is_one_numbered_op_with_one_return_record(gen):
    k = kernel(gen)
    for name in sorted(SIGNATURES):
        args = good_args(k, name)
        k.drain_records()
        op, ops = k.op, k.stats.ops
        result = getattr(k, name)(*args, cpu=1)
        records = k.drain_records()
        assert (k.op, k.stats.ops) == (op + 1, ops + 1), name
        returns = [r for r in records if r[0] is Return]
        assert len(returns) == 1, name
        kind, rop, cpu, rname, rargs = returns[0][:5]
        if name == "get_vm_area":               # the range its defaults stand for
            args += (k.config.VMALLOC_START, k.config.VMALLOC_END)
        assert (rop, cpu, rname, rargs) == (op + 1, 1, name, args)
        if result is not None or name in ALLOCATING:
            assert returns[0][5] == result
        # Every record of the op carries its number (a kworker's drain runs inside it).
        assert {r[1] for r in records} == {op + 1}, name


@pytest.mark.parametrize("gen", NAMES)
def test_a_null_from_an_allocating_call_counts_as_failed_unless_refused(gen):
    k = kernel(gen)
    assert k.vmalloc(1 << 62) is None           # larger than the whole vmalloc range
    assert k.stats.failed_calls == 1
    refused = k.stats.refused_calls
    got = k.vm_map_ram(1)
    if "vm_map_ram" in k.generation.calls:
        assert got is not None and k.stats.failed_calls == 1
    else:                                       # vanilla has no vm_map_ram(): refused
        assert got is None and k.stats.refused_calls == refused + 1 and k.stats.failed_calls == 1
    assert k.find_vm_area(k.config.VMALLOC_START + 3 * P) is None    # NULL, but not allocating
    assert k.stats.failed_calls == 1
