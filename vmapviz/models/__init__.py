"""Models beside the kernel: they read kernel views or snapshots, never change a kernel (the cost model, the /proc/vmallocinfo reader, the flush history of the sparkline)."""
