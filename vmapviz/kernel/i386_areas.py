"""6.12's i386 kernel address space above the direct map, as
arch/x86/include/asm/pgtable_32_areas.h computes it: the fixmap hangs from FIXADDR_TOP,
the CPU entry area below it, then the LDT remap and the pkmap, each on a 4 MiB (PMD)
boundary, and VMALLOC_END two pages under PKMAP_BASE; VMALLOC_START is high_memory plus
VMALLOC_OFFSET.  Read in v6.12.19 (wishday/linux-6.12.y, commit 21ae40e85ea7) and v6.18.2
(gfunkmonk/linux-6.18.2, commit 062668f4d006): every header used here is the same in both.

The sizes depend on the kernel's configuration, so the simulator fixes one (CONFIG_TEXT):
x86_32 SMP, !X86_PAE (two-level paging: PMD_SIZE 4 MiB), HIGHMEM4G, VMSPLIT_3G, no
KASAN/KMSAN, and i386_defconfig's fixmap entries; NR_CPUS is the simulator's CONFIG_NR_CPUS.
HIGHMEM4G is 6.12's default (arch/x86/Kconfig 1392-1393 of 6.12.19); 6.18 made it a plain
option, off by default (1407-1429 of 6.18.2), and the simulator keeps it on for 6.18 too.
Simplifications: physical RAM is one range from address 0 (max_pfn = RAM / PAGE_SIZE, no
e820 holes), no `vmalloc=` and no reserve_top_address() (a hypervisor's hole).
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 4096
# pgtable-2level_types.h 29 (PGDIR_SHIFT 22) folded through pgtable-nopmd.h 20-23.
PMD_SIZE = 1 << 22
PTRS_PER_PTE = 1024                  # pgtable-2level_types.h 38
PAGE_OFFSET = 0xC0000000             # arch/x86/Kconfig 1482-1488: VMSPLIT_3G
FIXADDR_TOP = 0xFFFFF000             # arch/x86/mm/pgtable_32.c 68: __FIXADDR_TOP
VMALLOC_OFFSET = 8 << 20             # pgtable_32_areas.h 14
VMALLOC_RESERVE = 128 << 20          # arch/x86/mm/pgtable_32.c 21: __VMALLOC_RESERVE
LAST_PKMAP = 1024                    # pgtable_32_areas.h 24 (!X86_PAE)

# sizeof(struct cpu_entry_area) on x86_32 in pages (cpu_entry_area.h 90-130): gdt,
# guard_entry_stack, entry_stack_page, guard_doublefault_stack, doublefault_stack
# (4096 bytes, page aligned): 5 pages; tss (processor.h 386-395): the 104-byte x86_hw_tss
# plus x86_io_bitmap (8 + 4 + 2 * (2048 + 1) * 4 = 16404 bytes) is 16508 bytes, page
# aligned: 5 pages; debug_store (intel_ds.h 20-30: 448 bytes, page aligned): 1 page;
# debug_store_buffers (BTS and PEBS buffers, PAGE_SIZE << 4 each): 32 pages.  43 in all.
CEA_PAGES_PER_CPU = 5 + 5 + 1 + 32

# The fixmap's permanent entries before the kmap slots (fixmap.h 81-118):
# FIX_HOLE, FIX_DBGP_BASE, FIX_EARLYCON_MEM_BASE, FIX_OHCI1394_BASE
# (PROVIDE_OHCI1394_DMA_INIT), FIX_APIC_BASE (X86_LOCAL_APIC), then MAX_IO_APICS (64 on
# x86_32, apicdef.h 156) FIX_IO_APIC_BASE entries (X86_IO_APIC); after the KM_MAX_IDX (16,
# asm-generic/kmap_size.h 9, no DEBUG_KMAP_LOCAL) slots per CPU, FIX_PCIE_MCFG
# (PCI_MMCONFIG).  No FIX_PARAVIRT_BOOTMAP (PARAVIRT_XXL is x86_64's), FIX_APEI_GHES_*
# (ACPI_APEI_GHES off) or FIX_TBOOT_BASE (INTEL_TXT off).
FIX_BEFORE_KMAP = 5 + 64
KM_MAX_IDX = 16
TOTAL_FIX_BTMAPS = 64 * 8            # fixmap.h 127-129: NR_FIX_BTMAPS * FIX_BTMAPS_SLOTS

CONFIG_TEXT = ("x86_32 SMP, !X86_PAE, HIGHMEM4G, VMSPLIT_3G, no KASAN/KMSAN, i386_defconfig's "
               "fixmap entries, NR_CPUS as configured")


@dataclass(frozen=True)
class Areas:
    """The boundaries, top down, as the macros name them."""

    fixaddr_tot_start: int     # FIXADDR_TOT_START: the fixmap's lowest page
    cpu_entry_area_base: int   # CPU_ENTRY_AREA_BASE
    ldt_base: int              # LDT_BASE_ADDR: the LDT remap, one PMD
    pkmap_base: int            # PKMAP_BASE: the kmap() window, one PMD
    vmalloc_end: int           # VMALLOC_END (exclusive)
    high_memory: int           # the end of the direct map
    vmalloc_start: int         # VMALLOC_START


def fixmap_pages(nr_cpus: int) -> int:
    """__end_of_fixed_addresses (fixmap.h 81-145): the fixmap's size in pages."""
    permanent = FIX_BEFORE_KMAP + KM_MAX_IDX * nr_cpus + 1     # __end_of_permanent_fixed_addresses
    # The boot-time slots start a new page table when they would straddle one (130-136).
    if (permanent ^ (permanent + TOTAL_FIX_BTMAPS - 1)) & -PTRS_PER_PTE:
        btmap_end = permanent + TOTAL_FIX_BTMAPS - (permanent & (TOTAL_FIX_BTMAPS - 1))
    else:
        btmap_end = permanent
    return btmap_end + TOTAL_FIX_BTMAPS - 1 + 1 + 1     # FIX_BTMAP_BEGIN, FIX_WP_TEST, the end


def areas(nr_cpus: int, ram_size: int) -> Areas:
    """The layout for NR_CPUS `nr_cpus` on a machine with `ram_size` bytes of RAM."""
    pmd_mask = ~(PMD_SIZE - 1)
    fixaddr_tot_start = FIXADDR_TOP - fixmap_pages(nr_cpus) * PAGE_SIZE          # fixmap.h 152-153
    # pgtable_32_areas.h 27-45 (the +1 is the read-only IDT page).
    cea = (fixaddr_tot_start - PAGE_SIZE * (nr_cpus * CEA_PAGES_PER_CPU + 1)) & pmd_mask
    ldt = (cea - PAGE_SIZE) & pmd_mask
    pkmap = (ldt - PAGE_SIZE) & pmd_mask
    vmalloc_end = pkmap - 2 * PAGE_SIZE                                          # CONFIG_HIGHMEM
    # MAXMEM (51) bounds lowmem; arch/x86/mm/init_32.c 646-648: high_memory is the end of
    # max_low_pfn = min(max_pfn, MAXMEM_PFN).
    maxmem = vmalloc_end - PAGE_OFFSET - VMALLOC_RESERVE
    high_memory = PAGE_OFFSET + min(ram_size // PAGE_SIZE, maxmem // PAGE_SIZE) * PAGE_SIZE
    return Areas(fixaddr_tot_start, cea, ldt, pkmap, vmalloc_end, high_memory,
                 high_memory + VMALLOC_OFFSET)


def vmalloc_range(nr_cpus: int, ram_size: int) -> tuple[int, int]:
    """[VMALLOC_START, VMALLOC_END) for NR_CPUS and RAM."""
    a = areas(nr_cpus, ram_size)
    return a.vmalloc_start, a.vmalloc_end
