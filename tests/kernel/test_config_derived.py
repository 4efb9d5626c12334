"""Config: the values the patch derives from its macros, and the configs it refuses.

From the patch (mm/vmalloc.c, "Per cpu kva allocator"):

    #define VMALLOC_SPACE   (128UL*1024*1024)        32-bit
    #define VMALLOC_SPACE   (128UL*1024*1024*1024)   64-bit
    #define VMALLOC_PAGES   (VMALLOC_SPACE / PAGE_SIZE)
    #define VMAP_MAX_ALLOC  BITS_PER_LONG
    #define VMAP_BBMAP_BITS VMAP_MIN(1024, VMAP_MAX(VMAP_MAX_ALLOC*2, VMALLOC_PAGES / NR_CPUS / 16))
    #define VMAP_BLOCK_SIZE (VMAP_BBMAP_BITS * PAGE_SIZE)
    #define LAZY_MAX (fls(num_online_cpus())*32*1024*1024 / PAGE_SIZE)

So VMALLOC_PAGES is 32768 on 32-bit and 33554432 on 64-bit.  Every expected value
below is that arithmetic done by hand.  NR_CPUS is the compile-time CONFIG_NR_CPUS
(Config.config_nr_cpus: x86's default 8, or the next power of two above the online
CPUs); LAZY_MAX uses the online CPUs (Config.nr_cpus).
"""

import pytest

from vmapviz.kernel import Config, ConfigError, Kernel

PAGE = 4096
MiB = 1 << 20


# (bits, NR_CPUS, VMAP_BBMAP_BITS) with the arithmetic spelled out.
BBMAP_CASES = [
    # 32-bit: VMALLOC_PAGES = 128 MiB / 4 KiB = 32768; the floor is 2*32 = 64.
    (32, 1, 1024),   # 32768/1/16 = 2048 -> min(1024, 2048) = 1024
    (32, 2, 1024),   # 32768/2/16 = 1024
    (32, 4, 512),    # 32768/4/16 = 512
    (32, 8, 256),    # 32768/8/16 = 256 (the KERNEL-NOTES example: 1 MiB blocks)
    (32, 16, 128),   # 32768/16/16 = 128
    (32, 32, 64),    # 32768/32/16 = 64 = the floor
    (32, 64, 64),    # 32768/64/16 = 32 -> max(64, 32) = 64
    (32, 256, 64),   # 8 -> the floor 64
    # 64-bit: VMALLOC_PAGES = 128 GiB / 4 KiB = 33554432; the floor is 2*64 = 128.
    (64, 1, 1024),    # 2097152 -> 1024
    (64, 3, 1024),    # 33554432//3 = 11184810, //16 = 699050 -> 1024 (no power-of-two issue)
    (64, 4, 1024),
    (64, 256, 1024),  # 33554432/256/16 = 8192 -> 1024
    (64, 2048, 1024), # 33554432/2048/16 = 1024
    (64, 4096, 512),  # 33554432/4096/16 = 512
]


@pytest.mark.parametrize("bits,cpus,bbmap", BBMAP_CASES)
def test_vmap_bbmap_bits_and_block_size(bits, cpus, bbmap):
    cfg = Config(nr_cpus=1, config_nr_cpus=cpus, bits=bits)
    assert cfg.vmap_max_alloc == bits            # VMAP_MAX_ALLOC = BITS_PER_LONG pages
    assert cfg.vmap_bbmap_bits == bbmap
    assert cfg.vmap_block_size == bbmap * PAGE   # VMAP_BLOCK_SIZE


def test_32bit_8_cpus_gives_1mib_blocks():
    cfg = Config(nr_cpus=8, bits=32)
    assert cfg.vmap_bbmap_bits == 256
    assert cfg.vmap_block_size == 1 * MiB


@pytest.mark.parametrize("cpus,nr_cpus,bbmap,lazy", [
    # NR_CPUS defaults to 8 up to 8 online CPUs: 32768/8/16 = 256 bits (1 MiB blocks);
    # lazy_max_pages() = fls(online) * 8192.
    (1, 8, 256, 8192), (2, 8, 256, 16384), (3, 8, 256, 16384), (4, 8, 256, 24576),
    (5, 8, 256, 24576), (6, 8, 256, 24576), (7, 8, 256, 24576), (8, 8, 256, 32768),
    # More online CPUs: NR_CPUS is the next power of two. 12 -> 16: 32768/16/16 = 128.
    (12, 16, 128, 32768), (16, 16, 128, 40960), (33, 64, 64, 49152),
])
def test_nr_cpus_is_config_nr_cpus_not_the_online_count(cpus, nr_cpus, bbmap, lazy):
    cfg = Config(nr_cpus=cpus, bits=32)
    assert (cfg.config_nr_cpus, cfg.vmap_bbmap_bits, cfg.lazy_max_pages) == (nr_cpus, bbmap, lazy)
    k = Kernel(cfg)           # 3, 5, 6 and 7 CPUs boot, as on a stock kernel
    assert k.vm_map_ram(1, cpu=cpus - 1) == cfg.vmalloc_start   # 0xf8800000 is 1 MiB aligned
    assert k.block_views()[0].end - k.block_views()[0].start == bbmap * PAGE


def test_config_nr_cpus_can_be_set_and_copies_follow_the_cpu_count():
    cfg = Config(nr_cpus=2, bits=32, config_nr_cpus=64)
    assert (cfg.vmap_bbmap_bits, cfg.lazy_max_pages) == (64, 16384)   # 32768/64/16 = 32 -> 64
    assert cfg.replace(nr_cpus=4).config_nr_cpus == 64                # still >= 4: kept
    assert cfg.replace(nr_cpus=128).config_nr_cpus == 128             # below: the default
    with pytest.raises(ConfigError, match="NR_CPUS"):
        Config(nr_cpus=8, config_nr_cpus=4)                           # fewer than online


def test_64bit_blocks_are_4mib_and_max_alloc_256k():
    cfg = Config(nr_cpus=4, bits=64)
    assert cfg.vmap_block_size == 4 * MiB
    assert cfg.vmap_max_alloc * PAGE == 256 * 1024   # "256K with 4K pages"


# lazy_max_pages() = fls(cpus) * (32 MiB / 4 KiB = 8192) pages.
LAZY_CASES = [
    (1, 8192),                      # fls(1) = 1
    (2, 16384), (3, 16384),         # fls = 2
    (4, 24576), (5, 24576), (6, 24576), (7, 24576),   # fls = 3
    (8, 32768), (15, 32768),        # fls = 4
    (16, 40960),                    # fls = 5
    (64, 57344),                    # fls(64) = 7
    (256, 73728),                   # fls(256) = 9
]


@pytest.mark.parametrize("cpus,lazy", LAZY_CASES)
def test_lazy_max_pages_is_a_log_scale(cpus, lazy):
    # 64-bit: every CPU count here has a power-of-two VMAP_BBMAP_BITS (1024).
    cfg = Config(nr_cpus=cpus, bits=64)
    assert cfg.lazy_max_pages == lazy
    assert Kernel(cfg).stats_view().lazy_max_pages == lazy


def test_lazy_max_pages_does_not_depend_on_width():
    assert Config(nr_cpus=4, bits=32).lazy_max_pages == Config(nr_cpus=4, bits=64).lazy_max_pages == 24576


def test_default_ranges_are_the_2_6_28_x86_ones():
    # i386: "vmalloc : 0xf8800000 - 0xff7fe000"; x86_64: VMALLOC_START 0xffffc20000000000.
    c32, c64 = Config(bits=32, nr_cpus=1), Config(bits=64)
    assert (c32.vmalloc_start, c32.vmalloc_end) == (0xF8800000, 0xFF7FE000)
    assert c64.vmalloc_start == 0xFFFFC20000000000
    assert c64.vmalloc_start % (4 * MiB) == 0


def test_custom_range_does_not_change_the_guessed_vmalloc_space():
    # VMALLOC_SPACE is the patch's guess (128 MiB on 32-bit), not the real range: a
    # 1 MiB custom range on 32-bit with 8 CPUs still gives 256-bit blocks.
    start = 0xC0000000
    cfg = Config(nr_cpus=8, bits=32, vmalloc_start=start, vmalloc_end=start + MiB)
    assert (cfg.vmalloc_start, cfg.vmalloc_end) == (start, start + MiB)
    assert cfg.vmap_bbmap_bits == 256
    assert cfg.lazy_max_pages == 32768


@pytest.mark.parametrize("kwargs", [
    dict(nr_cpus=0),
    dict(nr_cpus=-1),
    dict(bits=48),
    dict(bits=16),
    dict(variant="v2.6.99"),
    dict(bits=64, vmalloc_start=0xFFFFC20000000001),   # not page aligned
    dict(bits=64, vmalloc_end=0xFFFFE20000000800),     # not page aligned
    dict(bits=32, nr_cpus=1, vmalloc_start=0xC0000000, vmalloc_end=0xC0000000),  # empty
    dict(bits=32, nr_cpus=1, vmalloc_start=0xC0001000, vmalloc_end=0xC0000000),  # reversed
])
def test_refused_configs(kwargs):
    with pytest.raises(ConfigError):
        Config(**kwargs)


@pytest.mark.parametrize("cpus,bbmap", [
    (3, 682),    # 32768//3 = 10922, //16 = 682
    (5, 409),    # 32768//5 = 6553, //16 = 409
    (12, 170),   # 32768//12 = 2730, //16 = 170
])
def test_non_power_of_two_bbmap_bits_is_refused_with_a_clear_message(cpus, bbmap):
    # The 2008 block arithmetic (ALIGN to VMAP_BLOCK_SIZE, addr & (VMAP_BLOCK_SIZE-1))
    # needs a power of two; the simulator refuses an NR_CPUS that breaks it rather than
    # mis-index blocks.
    with pytest.raises(ConfigError) as exc:
        Config(nr_cpus=1, config_nr_cpus=cpus, bits=32)
    msg = str(exc.value)
    assert str(bbmap) in msg
    assert "power of two" in msg
    assert str(cpus) in msg


def test_256_cpus_on_64bit_boot_and_use_the_last_cpu():
    k = Kernel(Config(nr_cpus=256, bits=64))
    assert k.config.vmap_bbmap_bits == 1024
    addr = k.vm_map_ram(1, cpu=255)
    # First block of the machine: the 4 MiB aligned VMALLOC_START.
    assert addr == k.config.vmalloc_start
    assert [b.cpu for b in k.block_views()] == [255]
    assert k.check() == []
