"""The console the reports print on (`vmapviz run`, `workloads`, `variants`, `scaling`,
`vmallocinfo`)."""

from __future__ import annotations

import errno
import os

from rich.console import Console


class Output(Console):
    """The console of reports: a reader that went away (`| head -1`) raises
    BrokenPipeError, the CLI's "output closed" status, where Rich would exit 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
