"""The 6.18 generation, a policy of modern: decay_va_pool_node() of 6.18.2 tests
`if (!n_decay--) break;` before taking an area, so a normal purge decays len >> 2 areas
of a pool and keeps a pool of fewer than four; 6.12 (n_decay unsigned, tested after
`--n_decay`) empties it.  Worked out by hand on 2 CPUs (two vmap nodes):

- three vmalloc(16 KiB) on CPU 0: A1, A2, A3 of 5 pages each (guard page), one after
  the other from VMALLOC_START, tagged with node 0;
- vfree() all three, purge: they go to node 0's pool of 5-page areas, each to the
  head, in address order, so the head is A3;
- purge again (nothing lazy): the decay runs first.  6.12: the pool of 3 wraps and
  goes back to the free tree; 6.18: 3 >> 2 = 0 decayed, the pool is kept;
- vmalloc(16 KiB) on CPU 0: 6.12 takes the lowest fit, A1; 6.18 the pool's head, A3."""

from vmapviz.kernel import Config, Kernel
from vmapviz.kernel.generations import GENERATIONS


def _run(variant):
    k = Kernel(Config(nr_cpus=2, variant=variant))
    a = [k.vmalloc(16384, cpu=0) for _ in range(3)]
    for addr in a:
        k.vfree(addr, cpu=0)
    k.purge(0)
    k.drain_events()
    k.purge(0)
    decayed = [e.decayed for e in k.drain_events() if e.kind == "purge"]
    again = k.vmalloc(16384, cpu=0)
    assert not k.check()
    return a, decayed, again


def test_a_pool_of_three_is_emptied_on_6_12_and_kept_on_6_18():
    a, decayed, again = _run("modern")
    assert a[1] - a[0] == a[2] - a[1] == 5 * 4096
    assert decayed == [3] and again == a[0]
    a, decayed, again = _run("modern-6.18")
    assert decayed == [0] and again == a[2]


def test_6_18_is_modern_s_module_not_a_copy():
    g = GENERATIONS["modern-6.18"]
    assert g.module == GENERATIONS["modern"].module and g.features == GENERATIONS["modern"].features
    assert g.kernel_class().__mro__[1] is GENERATIONS["modern"].kernel_class()


def test_the_purge_explanation_on_6_18_says_the_pool_of_three_is_kept():
    """The second purge of the case above: 6.18's text names the kept pool and its count
    (node 0, 5-page areas, 3 of them: 3 >> 2 = 0 decayed); 6.12's text (its pool emptied,
    3 decayed) names no kept pool, and neither borrows the other's sentence."""
    from vmapviz.run.snapshot import take
    from vmapviz.sentences import borrowed
    from vmapviz.tui.words.explain import explain_said

    def second_purge(variant):
        k = Kernel(Config(nr_cpus=2, variant=variant))
        for addr in [k.vmalloc(16384, cpu=0) for _ in range(3)]:
            k.vfree(addr, cpu=0)
        k.purge(0)
        k.drain_events()
        k.purge(0)
        evs = tuple(k.drain_events())
        said = explain_said(take(k, op=k.op, last_op=evs))
        assert borrowed(said, variant) == []
        return [e for e in evs if e.kind == "purge"][-1], " ".join(said)

    p, text = second_purge("modern-6.18")
    assert p.kept == ((0, 5, 3),) and p.decayed == 0
    assert "node 0's pool of 5-page areas kept its 3 areas" in text
    assert "fewer than four" in text
    assert "(6.18 exports none)" in text      # the 6.x family's purge() text names its kernel
    p, text = second_purge("modern")
    assert p.kept == () and p.decayed == 3
    assert "first 3 pooled areas went back from the pools to the free tree" in text
    assert "kept" not in text
    assert "(6.12 exports none)" in text
