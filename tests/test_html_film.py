"""`vmapviz export --html` opened from disk in a real Chromium with the network off: the
file loads by itself, the slider goes to frame 50, and the op number and a known cell's
colours are those of the run's own screen at that op (taken from a separate headless
run, painted by the GIF's painter); the arrow keys and play/pause scrub.

Without Chromium or playwright these tests skip, saying why; under CI they fail."""

from __future__ import annotations

import asyncio
import os

import pytest

from browser import launch, missing, wait_for
from vmapviz.faces.cli import main
from vmapviz.run.spec import RunSpec

REASON = missing()
if REASON and os.environ.get("CI"):
    raise RuntimeError(f"the browser tests must run under CI: {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")

OP = 500   # frame 50 of --from 0 --every 10


def screen_at(op: int) -> list[tuple]:
    """The run's screen at `op` as the export's cells: a headless app of its own,
    dressed as the export dresses it (presenter layout, no footer, no badge)."""
    from vmapviz.faces.export import CellPainter
    from vmapviz.tui.headless import screen_lines
    from vmapviz.tui.headless import headless

    async def shoot():
        async with headless((120, 40), RunSpec.of("map-touch-unmap")) as session:
            session.slide(presenter=True)
            await session.run_to(op)
            app = session.app
            return CellPainter(app.ansi_theme).cells(screen_lines(app), app.size.width)
    return asyncio.run(shoot())


def known_cell(rows) -> tuple[int, int, tuple]:
    """The first map bar cell (a block element) below the header: (x, y, cell)."""
    for y, row in enumerate(rows[2:], 2):
        for x, cell in enumerate(row):
            if cell[0] in "▀▄█" and cell[1] != cell[2]:
                return x, y, cell
    raise AssertionError("no block element on the screen")


CELL_STYLE = """([x, y]) => {
    let left = x;
    for (const span of document.getElementById("row-" + y).children) {
        const n = Array.from(span.textContent).length;
        if (left < n) {
            const s = getComputedStyle(span);
            return {ch: Array.from(span.textContent)[left], color: s.color, background: s.backgroundColor};
        }
        left -= n;
    }
    return null;
}"""


def rgb(colour) -> str:
    return "rgb({}, {}, {})".format(*colour)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    path = tmp_path_factory.mktemp("film") / "run.html"
    assert main(["export", "--html", str(path), "--from", "0", "--ops", "600", "--every", "10"]) == 0
    return path


def test_the_player_opens_from_disk_offline_and_shows_the_runs_screen(film):
    from playwright.sync_api import sync_playwright
    x, y, cell = known_cell(screen_at(OP))
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(film.as_uri())
        page.wait_for_function("window.player && window.player.frame === 0")
        assert asked == [film.as_uri()] and errors == []   # nothing but the file itself
        assert page.inner_text("#op") == "op 0 · frame 1 of 61"
        page.locator("#slider").fill("50")
        assert page.inner_text("#op") == "op 500 · frame 51 of 61"
        assert page.evaluate("document.body.dataset.op") == str(OP)
        got = page.evaluate(CELL_STYLE, [x, y])
        assert got == {"ch": cell[0], "color": rgb(cell[1]), "background": rgb(cell[2])}
        # the explanation, as text on the page
        assert page.inner_text("#explain").startswith("what just happened · op 500:")
        assert "op 500" in page.inner_text("#row-0")   # the header row, real text
        # the keys: a frame on, back to the start; then play and pause
        page.locator("body").press("ArrowRight")
        assert page.inner_text("#op").startswith("op 510 ")
        page.locator("body").press("Home")
        assert page.inner_text("#op").startswith("op 0 ")
        page.click("#play")
        assert wait_for(lambda: page.evaluate("window.player.frame") >= 3, 10)
        page.click("#play")
        stopped = page.evaluate("window.player.frame")
        page.wait_for_timeout(500)
        assert page.evaluate("window.player.frame") == stopped
        browser.close()
