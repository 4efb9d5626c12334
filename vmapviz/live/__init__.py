"""The real kernel as a source: this machine's vmalloc tracepoints read through tracefs
(`tracefs`, `events`), bounded activity made on demand (`stir`), recordings as JSON
Lines (`recording`), the live state the TUI draws (`state`), and the simulator held
against a recording (`replay`)."""

from .events import LiveError

__all__ = ["LiveError"]
