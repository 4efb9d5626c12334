"""`vmapviz serve` in a real headless Chromium (Debian's, driven by playwright): the page
shows the app, keys reach it, `s` delivers the SVG to the browser, and every way a
session can end leaves no process behind.

Without Chromium or playwright these tests skip, saying why; under CI (CI=true) they
fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from browser import (Forward, Served, alive, cpu_seconds, delivered_svg, free_port, launch, missing,
                     open_app, wait_for)

REASON = missing()
if REASON and os.environ.get("CI"):
    raise RuntimeError(f"the browser tests must run under CI: {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser tests: {REASON}")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def served():
    server = Served("map-touch-unmap", "--seed", "1")
    yield server
    assert server.stop() == 130, "the server did not exit as interrupted (130)"
    assert not server.children()


def the_app(server) -> int:
    assert wait_for(lambda: len(server.children()) == 1, 30), server.children()
    return server.children()[0]


def header_pixels(page, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the top cell row have exactly colour `rgb`."""
    import io

    from PIL import Image
    shot = Image.open(io.BytesIO(page.screenshot(clip={"x": 0, "y": 0, "width": 1100, "height": 14})))
    return sum(n for n, colour in shot.convert("RGB").getcolors(1 << 20) if colour == rgb)


def test_the_page_shows_the_app_and_its_keys_work(browser, served):
    page = open_app(browser, served.url)
    # Playing: the header's RUNNING badge (#56B4E9) is painted.
    assert wait_for(lambda: header_pixels(page, (0x56, 0xB4, 0xE9)) > 100, 30)
    page.keyboard.press(" ")
    # Paused: the PAUSED badge (#E69F00) replaces it.
    assert wait_for(lambda: header_pixels(page, (0xE6, 0x9F, 0x00)) > 100, 30)
    assert header_pixels(page, (0x56, 0xB4, 0xE9)) == 0
    page.keyboard.press("n")   # one more op, shown in the header of the next screenshot
    svg = delivered_svg(page)
    assert "<svg" in svg[:300]
    assert "PAUSED" in svg and "map-touch-unmap" in svg and "per-CPU vmap blocks" in svg
    # The presenter layout: the blocks and the log give way to the map and the explanation.
    page.keyboard.press("l")
    svg = delivered_svg(page)
    assert "vmap blocks" not in svg and "what just happened" in svg
    app = the_app(served)
    page.close()
    assert wait_for(lambda: not alive(app), 20), "the app outlived its tab"


def test_a_closed_tab_ends_its_app_and_only_its_app(browser, served):
    first = open_app(browser, served.url)
    one = the_app(served)
    second = open_app(browser, served.url)
    assert wait_for(lambda: len(served.children()) == 2, 30)
    two = next(pid for pid in served.children() if pid != one)
    first.close()
    assert wait_for(lambda: not alive(one), 20), "the first tab's app outlived it"
    assert alive(two)
    second.close()
    assert wait_for(lambda: not alive(two), 20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_server_and_every_app(browser, sig):
    server = Served()
    page = open_app(browser, server.url)
    app = the_app(server)
    assert server.stop(sig) == 130   # interrupted (the README's table)
    assert wait_for(lambda: not alive(app), 20), "an app outlived its server"
    page.close()


def test_an_app_whose_server_is_killed_quits(browser):
    """SIGKILL leaves the server no chance to say goodbye: the app sees its input end."""
    server = Served()
    page = open_app(browser, server.url)
    app = the_app(server)
    server.stop(signal.SIGKILL)
    assert wait_for(lambda: not alive(app), 20), "an orphaned app kept running"
    page.close()


def test_another_host_is_served_only_with_a_warning():
    server = Served(host="127.0.0.2")   # loopback, but not the default
    assert server.stop() == 130
    assert any("warning: serving on 127.0.0.2" in line for line in server.output["stderr"])


def test_the_default_host_is_this_machine_only_and_says_nothing():
    from vmapviz.faces.cli import build_parser
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.fontsize) == ("127.0.0.1", 8000, 16)
    server = Served()
    assert server.stop() == 130
    assert not any("warning" in line for line in server.output["stderr"])
    assert server.output["stdout"][0].startswith(f"vmapviz: serving on http://127.0.0.1:{server.port}/")


def urls_seen(page) -> list[str]:
    """Every URL the page asks for from now on, its websockets included."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


def test_through_a_port_forward_the_page_uses_the_browsers_address(browser, served):
    """The browser reaches the server at 127.0.0.2:P2 (a forward to 127.0.0.1:P): the
    page's scripts and its socket must use 127.0.0.2:P2, not the server's own address."""
    forward = Forward(served.port)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        seen = urls_seen(page)
        page.goto(forward.url)
        page.wait_for_selector("body.-first-byte", timeout=60_000)
        ours = [url for url in seen if "googleapis" not in url]   # the template's web font
        assert any(url.startswith(f"ws://127.0.0.2:{forward.port}/ws") for url in ours), ours
        assert all(url.split("/")[2] == f"127.0.0.2:{forward.port}" for url in ours), ours
        assert wait_for(lambda: header_pixels(page, (0x56, 0xB4, 0xE9)) > 100, 30)   # RUNNING
        page.close()
    finally:
        forward.stop()


def test_a_public_url_is_what_the_page_uses(browser):
    """`--public-url` names the address browsers open (here a forward on 127.0.0.2)."""
    port = free_port()
    forward = Forward(port)
    server = Served("--public-url", forward.url, port=port)
    try:
        assert server.output["stdout"][0].startswith(f"vmapviz: serving on {forward.url}")
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        seen = urls_seen(page)
        page.goto(forward.url)
        page.wait_for_selector("body.-first-byte", timeout=60_000)
        assert f"ws://127.0.0.2:{forward.port}/ws?width" in " ".join(seen), seen
        page.close()
    finally:
        server.stop()
        forward.stop()


def test_another_sites_page_cannot_open_a_session(browser, served):
    """Cross-site websocket hijacking, as a browser does it: a page from evil.example
    (answered by playwright, no network) opens ws://127.0.0.1:PORT/ws."""
    page = browser.new_page()
    page.route("http://evil.example/", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<html><body>a web page</body></html>"))
    page.goto("http://evil.example/")
    outcome = page.evaluate("""port => new Promise(done => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?width=80&height=24`);
        let opened = false;
        ws.onopen = () => { opened = true; };
        ws.onclose = () => done(opened ? "opened" : "refused");
        setTimeout(() => done(opened ? "opened" : "pending"), 10000);
    })""", served.port)
    assert outcome == "refused"
    assert served.children() == []
    page.close()


def set_hidden(page, hidden: bool) -> None:
    """What the browser does when the tab goes to the background (or comes back)."""
    page.evaluate("""hidden => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", hidden)


def test_a_hidden_tab_pauses_its_run_until_it_is_seen(browser, served):
    page = open_app(browser, served.url)
    running, paused = (0x56, 0xB4, 0xE9), (0xE6, 0x9F, 0x00)
    assert wait_for(lambda: header_pixels(page, running) > 100, 30)
    set_hidden(page, True)
    assert wait_for(lambda: header_pixels(page, paused) > 100, 30), "a hidden tab kept running"
    app = the_app(served)
    before = cpu_seconds(app)
    time.sleep(3)
    assert cpu_seconds(app) - before < 0.6 * 3   # paused (a running app at 20 ops/s takes more)
    set_hidden(page, False)
    assert wait_for(lambda: header_pixels(page, running) > 100, 30), "it did not go on when seen"
    page.close()


def test_served_on_a_second_loopback_address_the_page_works_there(browser):
    """`--host 127.0.0.2` (as --host 0.0.0.0 opened at the LAN address): every URL of
    the page is the address the browser used."""
    server = Served(host="127.0.0.2")
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        seen = urls_seen(page)
        page.goto(server.url)
        page.wait_for_selector("body.-first-byte", timeout=60_000)
        ours = [url for url in seen if "googleapis" not in url]
        assert ours and all(url.split("/")[2] == f"127.0.0.2:{server.port}" for url in ours), ours
        assert wait_for(lambda: header_pixels(page, (0x56, 0xB4, 0xE9)) > 100, 30)   # RUNNING
        page.close()
    finally:
        server.stop()
