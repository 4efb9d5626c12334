"""The app driven without a person: `vmapviz screenshot` and the Pilot tests wait
here until the screen shows what the driver has done."""

from __future__ import annotations

import time


async def settle(app, pilot, op: int | None = None, timeout: float = 30.0) -> None:
    """Wait until `app` shows the driver's newest snapshot (at op `op` or later, or the
    end of the workload, or an error), the run paused, and has repainted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        latest = app.driver.latest
        if latest is None:
            continue
        reached = op is None or latest.op >= op or latest.finished or latest.error
        if reached and app.snap is latest and not latest.running:
            await pilot.pause()
            return
    raise TimeoutError(f"the app did not reach op {op} within {timeout:.0f} s")
