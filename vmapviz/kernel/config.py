"""The simulated machine's constants: what mm/vmalloc.c computes from its config.

Derived values carry the kernel's names and are computed as the 2008 patch computes
them (`VMAP_BBMAP_BITS`, `lazy_max_pages()`...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields as dataclass_fields
from functools import cached_property
from operator import attrgetter
from typing import Any

from .generations import FLUSH_MODELS, GENERATIONS, NAMES, Generation


MAX_CPUS = 4096
# The simulator's cap on physical memory (ram_size): every page frame is a Python int
# in the page table and the TLBs, so 16 GiB of 4 KiB pages (4 Mi frames) is about as
# much as one op may allocate and map in bounded memory.  The kernel has no such cap.
MAX_RAM_SIZE = 16 << 30

# --tiny: a machine small enough to work by hand.  Only these constants change; every
# rule (first fit, guard pages, lazy purges past lazy_max_pages, vb_alloc) stays the
# kernel's.  The vmalloc range is TINY["vmalloc_pages"] pages from VMALLOC_START.
TINY = {"vmalloc_pages": 64, "vmap_bbmap_bits": 16, "vmap_max_alloc": 4, "lazy_max_pages": 16, "nr_cpus": 2}
DEFAULT_NR_CPUS = 8      # x86 Kconfig: NR_CPUS defaults to 8 for an SMP kernel


class ConfigError(ValueError):
    """A configuration the kernel could not boot with."""


def fls(x: int) -> int:
    """fls(): the 1-based index of the most significant set bit, 0 for 0."""
    return x.bit_length()


def get_order(size: int, page_size: int, bits: int = 64) -> int:
    """get_order(): the smallest order with (page_size << order) >= size.  For size 0
    the kernel's loop starts from (size - 1) in unsigned long, all ones, and gives
    BITS_PER_LONG - PAGE_SHIFT (52 on x86_64, 20 on i386)."""
    if not size:
        return bits - (page_size.bit_length() - 1)
    return (-(-size // page_size) - 1).bit_length()


@dataclass(frozen=True)
class Config:
    """One simulated machine: width, CPUs, the vmalloc range, the kernel generation
    (`variant`, a name from the registry) and the TLB flush model.

    `nr_cpus` is num_online_cpus() (run time: the simulated CPUs, the lazy threshold);
    `config_nr_cpus` is CONFIG_NR_CPUS, the compile-time NR_CPUS that sizes the vmap
    blocks.  Left out, it is x86's Kconfig default for SMP (8 in 2008; the generation's
    Layout says, 64 on x86_64 for 6.12), or for a machine with more CPUs the next power
    of two: NR_CPUS is never below the online count, and the 2008 block arithmetic
    needs VMAP_BBMAP_BITS, a quotient by NR_CPUS, to be a power of two (as the kernel's
    own choices, 8 to MAXSMP's 4096, give it; 6.12 rounds NR_CPUS up itself).
    """

    nr_cpus: int = 4
    bits: int = 64
    variant: str = "merged"
    page_size: int = 4096
    vmalloc_start: int | None = None
    vmalloc_end: int | None = None
    seed: int = 1
    flush: str = "all"
    ram_size: int = 1 << 30          # physical memory: num_physpages = ram_size / page_size
    config_nr_cpus: int | None = None  # NR_CPUS; None: DEFAULT_NR_CPUS or more (see above)
    tiny: bool = False               # the --tiny preset's constants (TINY)
    # Derived (filled in __post_init__), named as the kernel names them.
    vmap_max_alloc: int = field(init=False)
    vmap_bbmap_bits: int = field(init=False)
    vmap_block_size: int = field(init=False)
    lazy_max_pages: int = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.bits not in (32, 64):
            raise ConfigError(f"bits must be 32 or 64, not {self.bits!r}")
        if self.variant not in GENERATIONS:
            raise ConfigError(f"variant must be one of {', '.join(NAMES)}, not {self.variant!r}")
        if self.flush not in FLUSH_MODELS:
            raise ConfigError(f"flush must be one of {', '.join(FLUSH_MODELS)}, not {self.flush!r}")
        if not isinstance(self.nr_cpus, int) or not 1 <= self.nr_cpus <= MAX_CPUS:
            raise ConfigError(f"nr_cpus must be between 1 and {MAX_CPUS}, not {self.nr_cpus!r}")
        for name in ("nr_cpus", "bits", "page_size", "seed", "ram_size"):
            if type(getattr(self, name)) is not int:
                raise ConfigError(f"{name} must be an integer, not {getattr(self, name)!r}")
        layout = self.generation.layout
        if self.config_nr_cpus is None:
            default = layout.nr_cpus_default_64 if self.bits == 64 else DEFAULT_NR_CPUS
            set_(self, "config_nr_cpus", max(default, 1 << (self.nr_cpus - 1).bit_length()))
        most = layout.nr_cpus_most(self.bits)
        if self.nr_cpus > most:
            raise ConfigError(f"{self.generation.title} on {self.bits}-bit x86 allows NR_CPUS up to {most} "
                              f"(its Kconfig's NR_CPUS_RANGE_END): {self.nr_cpus} CPUs cannot boot it")
        if type(self.config_nr_cpus) is not int or not self.nr_cpus <= self.config_nr_cpus <= most:
            raise ConfigError(f"config_nr_cpus (NR_CPUS) must be between the {self.nr_cpus} online "
                              f"CPUs and {most}, not {self.config_nr_cpus!r}")
        for name in ("vmalloc_start", "vmalloc_end"):
            if getattr(self, name) is not None and type(getattr(self, name)) is not int:
                raise ConfigError(f"{name} must be an integer, not {getattr(self, name)!r}")
        ps = self.page_size
        if ps < 4096 or ps & (ps - 1):
            raise ConfigError(f"page_size must be a power of two of at least 4096, not {ps!r}")
        if not ps <= self.ram_size <= min(1 << self.bits, MAX_RAM_SIZE) or self.ram_size % ps:
            raise ConfigError(f"ram_size must be a whole number of pages within the {self.bits}-bit "
                              f"address space and at most {MAX_RAM_SIZE >> 30} GiB (the simulator's "
                              f"cap), not {self.ram_size!r}")
        span = layout.vmalloc_range(self.bits, self.config_nr_cpus, self.ram_size)
        if type(self.tiny) is not bool:
            raise ConfigError(f"tiny must be true or false, not {self.tiny!r}")
        if self.tiny:
            span = (span[0], span[0] + TINY["vmalloc_pages"] * self.page_size)
        start = span[0] if self.vmalloc_start is None else self.vmalloc_start
        end = span[1] if self.vmalloc_end is None else self.vmalloc_end
        if start % ps or end % ps:
            raise ConfigError(f"vmalloc range {start:#x}-{end:#x} is not page aligned")
        if not 0 < start < end <= 1 << self.bits:
            raise ConfigError(f"vmalloc range {start:#x}-{end:#x} is empty or outside a {self.bits}-bit space")
        set_(self, "vmalloc_start", start)
        set_(self, "vmalloc_end", end)

        # VMAP_MAX_ALLOC is BITS_PER_LONG pages.  VMALLOC_SPACE is the patch's
        # guess, not the real range: 128 MiB on 32-bit, 128 GiB on 64-bit.
        max_alloc = self.bits
        vmalloc_space = (128 << 20) if self.bits == 32 else (128 << 30)
        vmalloc_pages = vmalloc_space // ps
        nr_cpus = self.config_nr_cpus
        if layout.nr_cpus_roundup:
            nr_cpus = 1 << (nr_cpus - 1).bit_length()      # roundup_pow_of_two(NR_CPUS)
        bbmap_bits = min(1024, max(2 * max_alloc, vmalloc_pages // nr_cpus // 16))
        if bbmap_bits & (bbmap_bits - 1) and self.generation.features.vmap_blocks:
            # The patch aligns blocks with ALIGN() and finds offsets with
            # addr & (VMAP_BLOCK_SIZE - 1): both need a power of two.  A later
            # kernel rounds NR_CPUS up to a power of two; the 2008 code does not.
            raise ConfigError(
                f"NR_CPUS {self.config_nr_cpus} on {self.bits}-bit gives VMAP_BBMAP_BITS = "
                f"{bbmap_bits}, not a power of two, which the 2008 block arithmetic cannot "
                "take; use a power-of-two NR_CPUS"
            )
        if self.tiny:
            max_alloc, bbmap_bits = TINY["vmap_max_alloc"], TINY["vmap_bbmap_bits"]
        set_(self, "vmap_max_alloc", max_alloc)
        set_(self, "vmap_bbmap_bits", bbmap_bits)
        set_(self, "vmap_block_size", bbmap_bits * ps)
        # lazy_max_pages(): fls(num_online_cpus()) * 32 MiB worth of pages, a log
        # scale so huge machines do not gather a huge latency.
        set_(self, "lazy_max_pages", TINY["lazy_max_pages"] if self.tiny else fls(self.nr_cpus) * ((32 << 20) // ps))

    @cached_property
    def generation(self) -> Generation:
        return GENERATIONS[self.variant]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields' values, in order (a checkpoint pickles the kernel's
        config each time), not with their names nor the cached properties; made again
        as it was, not checked and derived anew."""
        return _config, (_FIELD_VALUES(self),)

    def tiny_text(self) -> str:
        """What --tiny changed, constant by constant ("" without it)."""
        if not self.tiny:
            return ""
        return (f"tiny: {TINY['vmalloc_pages']}-page range, VMAP_BBMAP_BITS {self.vmap_bbmap_bits}, "
                f"VMAP_MAX_ALLOC {self.vmap_max_alloc}, lazy_max_pages {self.lazy_max_pages}")

    def offers(self, call: str) -> bool:
        """Does this generation's kernel have `call`?"""
        return call in GENERATIONS[self.variant].calls

    @cached_property
    def num_physpages(self) -> int:
        return self.ram_size // self.page_size

    @cached_property
    def page_shift(self) -> int:
        return self.page_size.bit_length() - 1

    @cached_property
    def VMALLOC_START(self) -> int:
        """The kernel's VMALLOC_START: the range's first byte."""
        start = self.vmalloc_start
        assert start is not None        # __post_init__ sets the range
        return start

    @cached_property
    def VMALLOC_END(self) -> int:
        """The kernel's own VMALLOC_END, as alloc_vmap_area() and vm_unmap_ram() see it:
        x86_64's is the last byte (inclusive), i386's the first byte past the range."""
        end = self.vmalloc_end
        assert end is not None          # __post_init__ sets the range
        return end - 1 if self.bits == 64 else end

    @cached_property
    def vmalloc_size(self) -> int:
        start, end = self.vmalloc_start, self.vmalloc_end
        assert start is not None and end is not None
        return end - start

    @cached_property
    def ulong_max(self) -> int:
        return (1 << self.bits) - 1

    @classmethod
    def resolve(cls, base: dict[str, Any], asked: dict[str, Any]) -> "Config":
        """The Config for the options `asked` (a None is not asked) over `base` (a
        workload's defaults, or another Config's fields).  The one home of the rules
        that tie options together: --tiny takes the preset's range and CPUs; a new width
        without a range of its own gets that width's range; NR_CPUS not asked for goes
        back to its default when below the online CPUs."""
        asked = {k: v for k, v in asked.items() if v is not None}
        opts = dict(base)
        if asked.get("tiny"):
            opts.update(vmalloc_start=None, vmalloc_end=None, nr_cpus=TINY["nr_cpus"])
        if asked.get("bits", opts.get("bits")) != opts.get("bits") and "vmalloc_start" not in asked:
            opts.update(vmalloc_start=None, vmalloc_end=None)
        opts.update(asked)
        if "config_nr_cpus" not in asked:
            opts = keep_nr_cpus(opts)
        return cls(**opts)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed, derived values recomputed."""
        fields = self.as_dict()
        # What was this machine's default (its layout's range, its NR_CPUS) follows a
        # change of width, and a change of generation or of what the layout depends on
        # (NR_CPUS, RAM: 6.12's i386 range), unless given.
        default = Config(**dict(fields, vmalloc_start=None, vmalloc_end=None))
        nr_default = Config(**dict(fields, config_nr_cpus=None))
        if "vmalloc_start" not in changes and ("bits" in changes or changes.keys() & {
                "variant", "nr_cpus", "config_nr_cpus", "ram_size"} and (
                self.vmalloc_start, self.vmalloc_end) == (default.vmalloc_start, default.vmalloc_end)):
            fields["vmalloc_start"] = fields["vmalloc_end"] = None
        if ("bits" in changes or "variant" in changes) and "config_nr_cpus" not in changes and \
                self.config_nr_cpus == nr_default.config_nr_cpus:
            fields["config_nr_cpus"] = None
        fields.update(changes)
        return Config(**keep_nr_cpus(fields))

    def as_dict(self) -> dict[str, Any]:
        return dict(nr_cpus=self.nr_cpus, bits=self.bits, variant=self.variant,
                    page_size=self.page_size, vmalloc_start=self.vmalloc_start,
                    vmalloc_end=self.vmalloc_end, seed=self.seed, flush=self.flush,
                    ram_size=self.ram_size, config_nr_cpus=self.config_nr_cpus, tiny=self.tiny)


_FIELD_NAMES = tuple(f.name for f in dataclass_fields(Config))
_FIELD_VALUES = attrgetter(*_FIELD_NAMES)


def _config(values: tuple[Any, ...]) -> Config:
    """The Config whose fields have these values (Config.__reduce__)."""
    config = object.__new__(Config)
    for name, value in zip(_FIELD_NAMES, values):
        object.__setattr__(config, name, value)
    return config


def keep_nr_cpus(fields: dict[str, Any]) -> dict[str, Any]:
    """Config fields with NR_CPUS dropped (back to its default) when it is below the
    online CPU count they ask for: for a copy or a trace run with more CPUs."""
    nr, config_nr = fields.get("nr_cpus"), fields.get("config_nr_cpus")
    if isinstance(nr, int) and isinstance(config_nr, int) and config_nr < nr:
        fields = dict(fields, config_nr_cpus=None)
    return fields
