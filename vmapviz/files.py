"""Files a user names: opened without blocking, read in lines of bounded length.

A path typed by a user may name a FIFO (open() waits for a writer, for ever), a device
(/dev/zero never ends and has no newline), a directory, or a pipe that can be read only
once (`<(cat t.jsonl)`, /dev/stdin).  `open_regular()` opens without waiting and refuses
anything but a regular file, for readers that read a file twice or again later (traces,
lessons, a watched vmallocinfo); `lines()` reads any stream a line at a time, a line at
most `max_line` bytes and the whole at most `max_bytes`, so memory stays bounded whatever
the input.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO, Iterator

MAX_LINE = 64 * 1024        # bytes in one line of any input vmapviz reads


class InputError(ValueError):
    """An input that cannot be read safely; the message names the file (and line)."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe or FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str, why: str) -> BinaryIO:
    """`path` opened for reading in binary, if it is a regular file; else InputError
    saying what it is and `why` a regular file is needed.  The open itself never blocks
    (O_NONBLOCK: a FIFO without a writer is opened, seen, and refused).  OSError (no such
    file, permission) goes to the caller."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: {_kind(mode)}, not a regular file: {why}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def lines(f: BinaryIO, path: str, max_bytes: int, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) of every line of `f`, reading at most
    max_line + 1 bytes at a time; InputError for a longer line or once more than
    `max_bytes` were read."""
    n = done = 0
    while True:
        raw = f.readline(max_line + 1)
        if not raw:
            return
        n += 1
        done += len(raw)
        if len(raw) > max_line and not (len(raw) == max_line + 1 and raw.endswith(b"\n")):
            raise InputError(f"{path}:{n}: line longer than {max_line:,} bytes")
        if done > max_bytes:
            raise InputError(f"{path}:{n}: more than {max_bytes >> 20:,} MiB")
        yield n, raw.rstrip(b"\r\n")
