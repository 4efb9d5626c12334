"""mypyc's class options, for the optional compiled build (setup.py).

`@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)` marks a class that checkpoints pickle (and deepcopy
copies): compiled, it is then rebuilt from its state without a call to __init__, as
pickle does for a Python class.  mypyc reads the decorator when it compiles; at run
time, in either build, the decorator here returns the class unchanged, so the pure
package needs no mypy.  This module stays interpreted (setup.py's INTERPRETED).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:
    def mypyc_attr(*args: Any, **options: Any) -> Callable[[type], type]:
        return lambda cls: cls

__all__ = ["mypyc_attr"]
