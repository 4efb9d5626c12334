"""`vmapviz serve`'s socket gate, sizes, session limit and session ends, against a real
server on 127.0.0.1 driven by a plain websocket client (aiohttp; no browser needed):
a socket from another site, or naming another host, gets 403 before any app starts;
the page's own origin and `--public-url`'s get an app; sizes are clamped; the N+1st tab
gets the "full" page; an app ends when its tab is gone whatever the socket did (closed
with 1009 mid-frame, or the app wedged)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from browser import Served, alive, wait_for
from vmapviz.faces.serve import MAX_SIZE, Gate, clamp
from vmapviz.run.spec import RunSpec

THIS = socket.gethostname().lower()


@pytest.mark.parametrize("host, origin, allowed", [
    # the page's own origin: scheme + the Host the browser used (port kept, default dropped)
    ("127.0.0.1:8000", "http://127.0.0.1:8000", True),
    ("localhost:8000", "http://localhost:8000", True),
    ("127.0.0.2:9001", "http://127.0.0.2:9001", True),          # a port forward's address
    ("[::1]:8000", "http://[::1]:8000", True),
    ("10.1.2.3", "http://10.1.2.3", True),                      # a LAN address, port 80
    (f"{THIS}:8000", f"http://{THIS}:8000", True),              # this machine's name
    ("class.example:443", "https://class.example", True),       # --public-url's host and origin
    # another site's page (cross-site websocket hijacking)
    ("127.0.0.1:8000", "http://evil.example", False),
    ("127.0.0.1:8000", "http://127.0.0.1:8001", False),         # another local server
    ("127.0.0.1:8000", "null", False),                          # a file:// or sandboxed page
    ("127.0.0.1:8000", None, False),                            # no Origin: not from a page
    # a name this server is not known by (DNS rebinding: evil.example -> 127.0.0.1)
    ("evil.example:8000", "http://evil.example:8000", False),
    ("", "http://127.0.0.1:8000", False),
])
def test_the_gate_lets_in_only_the_pages_own_origin(host, origin, allowed):
    gate = Gate("127.0.0.1", "https://class.example")
    assert (gate.refusal(host, origin) is None) == allowed


def test_without_a_public_url_another_name_is_refused_with_the_option_named():
    why = Gate("0.0.0.0", None).refusal("class.example", "http://class.example")
    assert why is not None and "--public-url" in why


@pytest.mark.parametrize("value, expected", [
    ("120", 120), ("5000", MAX_SIZE[0]), ("-3", 20), ("0x50", 80), (None, 80), ("1e9", 80)])
def test_a_width_is_clamped(value, expected):
    assert clamp(value, 20, MAX_SIZE[0], 80) == expected


# -- a real server ------------------------------------------------------------------------

async def ws_status(port: int, origin: str | None, host: str | None = None) -> int:
    headers = {k: v for k, v in (("Origin", origin), ("Host", host)) if v is not None}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30",
                                          headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status


@pytest.fixture(scope="module")
def server():
    served = Served("map-touch-unmap", "--seed", "1", "--max-sessions", "2",
                    "--public-url", "https://class.example/")
    yield served
    served.stop()


def test_hostile_sockets_get_403_and_no_app(server):
    own = f"http://127.0.0.1:{server.port}"
    for origin, host in (("http://evil.example", None), (None, None), ("null", None),
                         ("http://evil.example:1", f"evil.example:{server.port}")):
        assert asyncio.run(ws_status(server.port, origin, host)) == 403, (origin, host)
    assert server.children() == []
    assert asyncio.run(ws_status(server.port, "https://class.example")) == 101   # --public-url's
    assert asyncio.run(ws_status(server.port, own)) == 101
    assert wait_for(lambda: server.children() == [], 20), "a session outlived its socket"


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def hold(port: int, n: int, then):
    """Open n sessions from the page's origin, run `then()` while they are open."""
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=9999&height=9999",
                                            headers={"Origin": f"http://127.0.0.1:{port}"})
                   for _ in range(n)]
        try:
            return await then(session)
        finally:
            for ws in sockets:
                await ws.close()


def test_a_full_server_says_so_and_sizes_are_clamped(server):
    async def then(session):
        assert await asyncio.to_thread(wait_for, lambda: len(server.children()) == 2, 30)
        for pid in server.children():
            env = environ(pid)
            assert (env["COLUMNS"], env["ROWS"]) == tuple(map(str, MAX_SIZE))
        async with session.get(f"http://127.0.0.1:{server.port}/") as page:
            text = await page.text()
            assert page.status == 503 and "this server is full" in text and "All 2 sessions" in text
        return await ws_status(server.port, f"http://127.0.0.1:{server.port}")
    assert asyncio.run(hold(server.port, 2, then)) == 503
    assert wait_for(lambda: server.children() == [], 20)


def test_an_app_ends_when_its_socket_fails_mid_frame(server):
    """A client that cannot take a frame closes with 1009 (message too big): nobody
    would read the app's output again; the app must still end."""
    async def tab():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{server.port}/ws?width=5000&height=3000",
                                          headers={"Origin": f"http://127.0.0.1:{server.port}"},
                                          max_msg_size=2000) as ws:
                async for _ in ws:
                    pass
                return ws.close_code
    assert asyncio.run(tab()) == 1009
    assert wait_for(lambda: server.children() == [], 20), "the app outlived its failed socket"


def test_a_wedged_app_is_killed_when_its_tab_goes(server):
    """An app that cannot answer (stopped: it handles neither the quit message nor
    SIGTERM) is killed: the server does not depend on the app's cooperation."""
    async def then(session):
        assert await asyncio.to_thread(wait_for, lambda: len(server.children()) == 1, 30)
        pid = server.children()[0]
        os.kill(pid, signal.SIGSTOP)
        return pid
    pid = asyncio.run(hold(server.port, 1, then))
    assert wait_for(lambda: not alive(pid), 30), "the wedged app was left running"


def test_a_tab_without_input_pauses_its_run():
    """No key or mouse for `idle_seconds`: the run pauses and says why."""
    from vmapviz.faces.serve import served_app_class

    async def run():
        app = served_app_class()(RunSpec.of("map-touch-unmap", seed=1))
        app.idle_seconds = 0.5
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(300):   # it plays, then pauses itself (slowly on a loaded machine)
                if app.paused_for is not None:
                    break
                await pilot.pause(0.1)
            assert app.paused_for == "idle"
            assert await asyncio.to_thread(wait_for, lambda: not app.driver.running, 10)
            assert any("no input for" in n.message for n in app._notifications)
            app.stop_driver()
    asyncio.run(run())


def test_a_port_in_use_or_out_of_range_is_one_line_and_nothing_served():
    import subprocess
    import sys
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for arg, says in ((str(port), "address already in use"), ("-1", "--port"),
                          ("70000", "between 1 and 65535"), ("٨٨٥٠", "digits 0-9")):
            done = subprocess.run([sys.executable, "-m", "vmapviz", "serve", "--port", arg],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 2 and done.stdout == "", (arg, done)
            assert done.stderr.count("\n") == 1 and says in done.stderr, (arg, done.stderr)


hosts = st.one_of(st.sampled_from(["127.0.0.1", "localhost", "10.0.0.7", "[::1]", "class.example",
                                   "evil.example", "127.0.0.1.evil.example", "", "LOCALHOST"]),
                  st.text(alphabet="abcdefxyz0123456789.-", max_size=20))
ports = st.one_of(st.none(), st.integers(1, 65535))


def hostport(host: str, port) -> str:
    return host if port is None else f"{host}:{port}"


@settings(max_examples=500, deadline=None)
@given(host=hosts, port=ports, scheme=st.sampled_from(["http", "https", "ws", "file", "null"]),
       other=hosts, other_port=ports)
def test_fuzzed_origins_get_in_only_as_the_pages_own(host, port, scheme, other, other_port):
    """Worked independently of the gate: a socket is let in iff its Host is an IP
    literal or a known name, and its Origin is http(s):// + that same host[:port] (the
    default port written or not) or the public URL's origin."""
    import ipaddress
    gate = Gate("127.0.0.1", "https://class.example")
    header = hostport(host, port)
    origin = f"{scheme}://{hostport(other, other_port)}"
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
        known = True
    except ValueError:
        known = bare.lower() in {"localhost", "127.0.0.1", "class.example", socket.gethostname().lower()}
    default = {"http": 80, "https": 443}.get(scheme)
    same = (scheme in ("http", "https") and other.lower() == host.lower()
            and (other_port or default) == (port or default))
    public = scheme == "https" and other.lower() == "class.example" and other_port in (None, 443)
    assert (gate.refusal(header, origin) is None) == (known and (same or public)), (header, origin)


@given(value=st.one_of(st.none(), st.text(max_size=12), st.integers().map(str)))
def test_a_fuzzed_size_is_always_within_the_clamp(value):
    assert 20 <= clamp(value, 20, MAX_SIZE[0], 80) <= MAX_SIZE[0]


def test_a_tab_gone_silent_ends_its_app(server):
    """A tab whose machine slept or whose network dropped: the socket stays open but
    nothing answers the server's pings (every 15 s); the app must still end."""
    async def silent():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{server.port}/ws?width=100&height=30",
                                          headers={"Origin": f"http://127.0.0.1:{server.port}"},
                                          autoping=False)
            assert await asyncio.to_thread(wait_for, lambda: len(server.children()) == 1, 30)
            pid = server.children()[0]
            # never read, never answer a ping: as good as gone
            gone = await asyncio.to_thread(wait_for, lambda: not alive(pid), 60)
            await ws.close()
            return gone
    assert asyncio.run(silent()), "the app of a silent tab kept running"
