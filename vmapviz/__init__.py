"""vmapviz: an interactive visualiser of the Linux kernel's vmalloc address space."""

__version__ = "0.1.0"
