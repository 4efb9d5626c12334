"""Bounded vmalloc activity on demand: N short-lived threads of this process.

Every task's kernel stack is a vmalloc'ed area (CONFIG_VMAP_STACK, x86_64's default):
alloc_thread_stack_node() asks __vmalloc_node(THREAD_SIZE, THREAD_ALIGN, ...) for 16 KiB
aligned to 16 KiB, and __get_vm_area_node() adds the guard page, so the tracepoint
reports size=20480 align=16384.  An exited task's stack goes back through RCU to a
per-CPU cache of two (NR_CACHED_STACKS) or to vfree(), which from that context defers
to a kworker (vfree_atomic()): the free lines carry a kworker's name.

The threads are started in batches of at most BATCH, each batch all alive at once so
that the per-CPU cache cannot hand every one a cached stack; nothing else on the
machine is touched, and nothing outlives the call.
"""

from __future__ import annotations

import threading

BATCH = 50
MAX_STIR = 100_000


def stir(n: int, stop: threading.Event | None = None) -> int:
    """Start and join `n` threads, at most BATCH alive at once; returns how many ran
    (fewer when `stop` is set)."""
    done = 0
    while done < n and not (stop and stop.is_set()):
        batch = min(BATCH, n - done)
        release = threading.Event()
        threads = [threading.Thread(target=release.wait, daemon=True, name="vmapviz-stir")
                   for _ in range(batch)]
        for t in threads:
            t.start()
        release.set()
        for t in threads:
            t.join()
        done += batch
    return done
