"""6.12's i386 vmalloc range, worked out by hand from the C (issue 22 §2, "each generation
brings its own layout").

Read in v6.12.19 (wishday/linux-6.12.y 21ae40e85ea7; the same in v6.18.2,
gfunkmonk/linux-6.18.2 062668f4d006), arch/x86/include/asm/:
  pgtable_32_areas.h 14    VMALLOC_OFFSET 8 MiB
                     20    VMALLOC_START = high_memory + VMALLOC_OFFSET
                     27    CPU_ENTRY_AREA_PAGES = NR_CPUS * DIV_ROUND_UP(sizeof(struct cpu_entry_area), PAGE_SIZE)
                     30-31 CPU_ENTRY_AREA_BASE = (FIXADDR_TOT_START - PAGE_SIZE * (CPU_ENTRY_AREA_PAGES + 1)) & PMD_MASK
                     33-34 LDT_BASE_ADDR = (CPU_ENTRY_AREA_BASE - PAGE_SIZE) & PMD_MASK
                     38-39 PKMAP_BASE = (LDT_BASE_ADDR - PAGE_SIZE) & PMD_MASK
                     42    VMALLOC_END = PKMAP_BASE - 2 * PAGE_SIZE  (CONFIG_HIGHMEM)
                     51    MAXMEM = VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE
  fixmap.h 81-145 (enum fixed_addresses), 152-153 (FIXADDR_TOT_START = FIXADDR_TOP - (__end_of_fixed_addresses << PAGE_SHIFT))
  cpu_entry_area.h 90-130, processor.h 347-395, intel_ds.h 6-37: 43 pages per CPU on x86_32
  (gdt, guard, entry stack, guard, doublefault stack: 5; tss 104 + 16404 bytes: 5; debug store: 1;
  BTS + PEBS buffers 2 x 64 KiB: 32)
  arch/x86/mm/pgtable_32.c 21 (__VMALLOC_RESERVE 128 MiB), 68 (__FIXADDR_TOP 0xfffff000);
  arch/x86/mm/init_32.c 646-648 (high_memory = end of max_low_pfn), 747-760 (the layout's BUG_ONs).
Config: x86_32 SMP, !X86_PAE (PMD 4 MiB), HIGHMEM4G, VMSPLIT_3G (PAGE_OFFSET 0xc0000000),
i386_defconfig's fixmap: 69 entries before the kmap slots (HOLE, DBGP, EARLYCON, OHCI1394,
APIC, 64 IO-APICs), 16 kmap slots per CPU, PCIE_MCFG; 512 boot-time slots; WP_TEST.
"""

import pytest

from vmapviz.kernel import Config, ConfigError, Kernel
from vmapviz.kernel import i386_areas

# NR_CPUS 8 (x86_32's default, arch/x86/Kconfig 1018-1023 of 6.12.19), 1 GiB of RAM:
#   __end_of_permanent_fixed_addresses = 69 + 16 * 8 + 1 = 198; 198 .. 198 + 511 = 709
#   stay within one 1024-entry page table (198 ^ 709 = 0x203, & -1024 = 0), so
#   FIX_BTMAP_END = 198, FIX_BTMAP_BEGIN = 709, FIX_WP_TEST = 710, the end 711 pages.
#   FIXADDR_TOT_START = 0xfffff000 - 711 * 0x1000 = 0xffd38000
#   CPU entry area: 8 * 43 + 1 = 345 pages = 0x159000; 0xffd38000 - 0x159000 = 0xffbdf000,
#   & ~0x3fffff = 0xff800000
#   LDT_BASE_ADDR = 0xff7ff000 & ~0x3fffff = 0xff400000; PKMAP_BASE = 0xff000000
#   VMALLOC_END = 0xff000000 - 0x2000 = 0xfeffe000
#   MAXMEM = 0xfeffe000 - 0xc0000000 - 0x8000000 = 0x36ffe000 (< 1 GiB of RAM), so
#   high_memory = 0xf6ffe000 and VMALLOC_START = 0xf77fe000: 120 MiB of vmalloc space.
AREAS_8 = i386_areas.Areas(fixaddr_tot_start=0xFFD38000, cpu_entry_area_base=0xFF800000,
                           ldt_base=0xFF400000, pkmap_base=0xFF000000, vmalloc_end=0xFEFFE000,
                           high_memory=0xF6FFE000, vmalloc_start=0xF77FE000)


def test_6_12_i386_layout_with_8_cpus_worked_by_hand():
    assert i386_areas.fixmap_pages(8) == 711
    assert i386_areas.areas(8, 1 << 30) == AREAS_8
    cfg = Config(bits=32, variant="modern", nr_cpus=4)          # NR_CPUS defaults to 8
    assert cfg.config_nr_cpus == 8
    assert (cfg.vmalloc_start, cfg.vmalloc_end) == (0xF77FE000, 0xFEFFE000)
    assert cfg.vmalloc_end - cfg.vmalloc_start == 120 << 20
    # The first vmalloc on an empty space lands at VMALLOC_START.
    assert Kernel(cfg).vmalloc(4096) == 0xF77FE000


# (NR_CPUS, fixmap pages, VMALLOC_START, VMALLOC_END), each by hand as above:
LAYOUTS = [
    # 1: 69 + 16 + 1 = 86 permanent, no straddle: 86 + 513 = 599 pages; TOT_START
    #    0xfffff000 - 0x257000 = 0xffda8000; - 44 pages (0x2c000) = 0xffd7c000 -> CEA
    #    0xffc00000, LDT 0xff800000, PKMAP 0xff400000, VMALLOC_END 0xff3fe000; MAXMEM
    #    0x373fe000, high_memory 0xf73fe000, VMALLOC_START 0xf7bfe000.
    (1, 599, 0xF7BFE000, 0xFF3FE000),
    # 32: 69 + 512 + 1 = 582 permanent; 582 .. 1093 straddles a page table (582 ^ 1093
    #    & -1024 != 0): FIX_BTMAP_END = 582 + 512 - (582 & 511 = 70) = 1024, the end
    #    1024 + 513 = 1537 pages; TOT_START 0xfffff000 - 0x601000 = 0xff9fe000; - 1377
    #    pages (0x561000) = 0xff49d000 -> CEA 0xff400000, LDT 0xff000000, PKMAP
    #    0xfec00000, VMALLOC_END 0xfebfe000; VMALLOC_START 0xfebfe000 - 120 MiB = 0xf73fe000.
    (32, 1537, 0xF73FE000, 0xFEBFE000),
    # 64 (X86_BIGSMP's most): 69 + 1024 + 1 = 1094, 1094 .. 1605 in one table: 1607
    #    pages; TOT_START 0xfffff000 - 0x647000 = 0xff9b8000; - 2753 pages (0xac1000) =
    #    0xfeef7000 -> CEA 0xfec00000, LDT 0xfe800000, PKMAP 0xfe400000, VMALLOC_END
    #    0xfe3fe000; VMALLOC_START 0xf6bfe000.
    (64, 1607, 0xF6BFE000, 0xFE3FE000),
]


@pytest.mark.parametrize("nr_cpus,fixmap,start,end", LAYOUTS)
def test_the_cpu_entry_area_and_the_fixmap_grow_with_nr_cpus(nr_cpus, fixmap, start, end):
    assert i386_areas.fixmap_pages(nr_cpus) == fixmap
    cfg = Config(bits=32, variant="modern", nr_cpus=1, config_nr_cpus=nr_cpus)
    assert (cfg.vmalloc_start, cfg.vmalloc_end) == (start, end)


def test_the_layout_keeps_the_kernels_own_checks():
    # init_32.c 756-760: PKMAP_BASE + LAST_PKMAP pages <= FIXADDR_START, VMALLOC_END <=
    # PKMAP_BASE, high_memory <= VMALLOC_START < VMALLOC_END, for every NR_CPUS allowed.
    for nr in range(1, 65):
        a = i386_areas.areas(nr, 1 << 30)
        assert a.pkmap_base + 1024 * 4096 <= a.fixaddr_tot_start
        assert a.vmalloc_end <= a.pkmap_base and a.high_memory < a.vmalloc_start < a.vmalloc_end


def test_small_ram_ends_the_direct_map_early():
    # 256 MiB < MAXMEM: max_low_pfn = max_pfn, high_memory = 0xc0000000 + 0x10000000 =
    # 0xd0000000, VMALLOC_START 0xd0800000; VMALLOC_END does not depend on RAM.
    cfg = Config(bits=32, variant="modern", ram_size=256 << 20)
    assert (cfg.vmalloc_start, cfg.vmalloc_end) == (0xD0800000, 0xFEFFE000)


def test_each_generation_brings_its_own_i386_range():
    # The 2008 generations and v2.6.27 keep 2.6.28's "vmalloc : 0xf8800000 - 0xff7fe000";
    # modern-6.18's headers are 6.12's (the same layout).
    for variant in ("vanilla", "posted", "merged"):
        cfg = Config(bits=32, variant=variant, nr_cpus=4)
        assert (cfg.vmalloc_start, cfg.vmalloc_end) == (0xF8800000, 0xFF7FE000)
    cfg = Config(bits=32, variant="modern-6.18", nr_cpus=4)
    assert (cfg.vmalloc_start, cfg.vmalloc_end) == (0xF77FE000, 0xFEFFE000)
    # A change of generation, CPUs or NR_CPUS moves a default range with it.
    merged = Config(bits=32, variant="merged", nr_cpus=4)
    assert merged.replace(variant="modern").vmalloc_start == 0xF77FE000
    assert merged.replace(variant="modern").replace(nr_cpus=64).vmalloc_end == 0xFE3FE000
    assert merged.replace(variant="modern").replace(variant="merged").vmalloc_start == 0xF8800000


def test_x86_32_nr_cpus_range_end():
    # 6.12 arch/x86/Kconfig 1004-1009: NR_CPUS_RANGE_END 64 with X86_BIGSMP; 6.18.2
    # 1031-1035: X86_BIGSMP is gone, 8.  x86_64 keeps MAXSMP's 8192.
    assert Config(bits=32, variant="modern", nr_cpus=64).config_nr_cpus == 64
    with pytest.raises(ConfigError, match="1 online CPUs and 64"):
        Config(bits=32, variant="modern", nr_cpus=1, config_nr_cpus=128)
    assert Config(bits=32, variant="modern-6.18", nr_cpus=8).config_nr_cpus == 8
    with pytest.raises(ConfigError, match="up to 8"):
        Config(bits=32, variant="modern-6.18", nr_cpus=16)
    assert Config(bits=64, variant="modern-6.18", nr_cpus=16, config_nr_cpus=8192).config_nr_cpus == 8192
