"""`vmapviz serve`: the TUI in a browser, one app process per tab, on textual-serve.

The server runs `python -m vmapviz.faces.serve SESSION-ARGS` for every browser tab that
connects and pipes the tab's websocket to that process's stdin and stdout
(textual-serve's `AppService`; the page, the socket's checks and its messages are
vmapviz's own, below).

- A socket is a session only if it comes from the page: its `Host` is a name this
  server is known by (an IP address, `localhost`, this machine's name, `--host`, the
  `--public-url`'s host) and its `Origin` is the page's own (`http(s)://` + that Host) or
  the `--public-url`'s.  Anything else gets 403 before an app starts: any web site open
  in the user's browser could otherwise open a socket and drive an app (cross-site
  websocket hijacking), a renamed host (DNS rebinding) likewise.
- The terminal size a socket asks for is clamped to `MAX_SIZE`, its messages to
  `MAX_MESSAGE` bytes, and at most `--max-sessions` run at once (a page says the class
  is full).
- The page's URLs (its scripts and its socket) are `--public-url`'s, or else those of
  the address the browser used (its Host), so they work from another machine, through
  a port forward or a tunnel.
- A session ends with its tab, whatever its socket did: the server keeps reading the
  app's output (so the app never blocks writing a frame nobody reads), tells it to
  quit, closes its input, and after `QUIT_TIMEOUT` terminates and then kills it.  The
  app also quits on its own when its input ends (the server gone however it went).
- The page tells its app when the tab is hidden; a hidden tab, or one without input for
  `IDLE_SECONDS`, pauses its run until it is seen (or used) again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shlex
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

from textual import messages
from textual.drivers.web_driver import WebDriver
from textual.message import Message

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
QUIT_TIMEOUT = 5.0       # seconds an app has to quit before it is terminated, then killed
MAX_SIZE = (400, 150)    # columns, rows: more than any screen shows at a readable size
MIN_SIZE = (20, 5)
MAX_MESSAGE = 64 << 10   # bytes of one message from a tab (keys, a resize, a paste)
MAX_SESSIONS = 40        # default for --max-sessions
IDLE_SECONDS = 600.0     # a tab without input this long pauses its run

# Sent by the page: tells the app whether its tab is visible (`document.hidden`).
VISIBILITY_SCRIPT = """<script>
(function () {
  const Native = window.WebSocket, sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); sockets.push(this); }
  };
  document.addEventListener("visibilitychange", function () {
    const message = JSON.stringify(["visibility", document.hidden ? "hidden" : "visible"]);
    for (const s of sockets) if (s.readyState === Native.OPEN) s.send(message);
  });
})();
</script>
"""

FULL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>vmapviz: full</title></head>
<body style="background:#0c181f;color:#e0e0e0;font:18px monospace;padding:3em">
<h1>vmapviz: this server is full</h1>
<p>All {n} sessions are in use. Try again when a tab has been closed
(the teacher can start <code>vmapviz serve --max-sessions N</code> with a larger N).</p>
</body></html>
"""


def _origin(scheme: str, host: str) -> str:
    """scheme://host[:port] in lower case, the default port dropped (as browsers send it)."""
    parts = urlsplit(f"{scheme}://{host}")
    name = parts.hostname or ""
    if ":" in name:
        name = f"[{name}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{name}" + (f":{port}" if port and port != default else "")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Gate:
    """Who may open a session: the names this server is known by, and the origins of
    its page."""

    def __init__(self, bound_host: str, public_url: str | None) -> None:
        self.names = {"localhost", bound_host.lower(), socket.gethostname().lower()}
        self.origins: set[str] = set()
        if public_url:
            parts = urlsplit(public_url)
            self.names.add((parts.hostname or "").lower())
            self.origins.add(_origin(parts.scheme, parts.netloc))

    def host_refusal(self, host: str | None) -> str | None:
        """Why a request with this `Host` header is refused, or None."""
        try:
            name = urlsplit(f"//{host}").hostname if host else None
        except ValueError:
            name = None
        if not name or not (_is_ip(name) or name.lower() in self.names):
            return (f"vmapviz: Host {host!r} is not a name of this server "
                    "(start it with --public-url to give it one)")
        return None

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a socket with these `Host` and `Origin` headers is refused, or None."""
        if refusal := self.host_refusal(host):
            return refusal
        if not origin:
            return "vmapviz: no Origin: a session is opened by vmapviz's page"
        own = {_origin(scheme, host) for scheme in ("http", "https")}
        try:
            parts = urlsplit(origin)
            given = _origin(parts.scheme, parts.netloc) if parts.scheme in ("http", "https") else None
        except ValueError:
            given = None
        if given not in own | self.origins:
            return f"vmapviz: Origin {origin!r} is not this server's page"
        return None


def clamp(value, low: int, high: int, default: int) -> int:
    """A terminal dimension from a tab, as an int within [low, high]."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = default
    return max(low, min(high, n))


# -- the app's side ---------------------------------------------------------------------

class TabVisibility(Message):
    """The page says whether its tab is hidden."""

    def __init__(self, hidden: bool) -> None:
        super().__init__()
        self.hidden = hidden


class SessionDriver(WebDriver):
    """Textual's web driver, except that the app quits when its input ends, hears when
    its tab is hidden, and knows when the tab last sent input."""

    last_input = 0.0

    def process_message(self, message) -> None:
        self.last_input = time.monotonic()
        super().process_message(message)

    def on_meta(self, packet_type: str, payload: dict) -> None:
        if packet_type == "visibility":
            self._app.post_message(TabVisibility(bool(payload.get("hidden"))))
        else:
            super().on_meta(packet_type, payload)

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        finally:
            if not self.exit_event.is_set():   # end of input, not our own stop: the server is gone
                self._app.post_message(messages.ExitApp())


def served_app_class():
    """The TUI as a tab runs it: a hidden or idle tab pauses its run (imported late:
    textual's app is heavy and the server never needs it)."""
    from ..tui.app import VmapvizApp

    class ServedApp(VmapvizApp):
        idle_seconds = IDLE_SECONDS

        def on_mount(self) -> None:   # after VmapvizApp's own (Textual calls each class's)
            self.started_at = time.monotonic()
            self.hidden = False
            self.paused_for: str | None = None   # "hidden" or "idle": why the tab paused the run
            self.set_interval(min(5.0, self.idle_seconds / 4), self._check_idle)

        def on_tab_visibility(self, message: TabVisibility) -> None:
            self.hidden = message.hidden
            if message.hidden:
                self._pause_for("hidden", "the tab is hidden; it goes on when the tab is seen again")
            elif self.paused_for == "hidden":
                self.paused_for = None
                self.clear_notifications()
                self.driver.play()

        def _check_idle(self) -> None:
            last = max(getattr(self._driver, "last_input", 0.0), self.started_at)
            if time.monotonic() - last >= self.idle_seconds:
                self._pause_for("idle", f"no input for {self.idle_seconds / 60:g} minutes; "
                                "space goes on")
            elif self.paused_for == "idle":   # used again: the notice goes, the keys decide
                self.paused_for = None
                self.clear_notifications()

        def _pause_for(self, why: str, text: str) -> None:
            if self.paused_for is None and self.driver.running:
                self.paused_for = why
                self.driver.pause()
                self.notify(f"Paused: {text}.", timeout=24 * 3600)

    return ServedApp


def main(argv: list[str] | None = None) -> int:
    """One tab's app: the TUI on the web driver."""
    from .cli import build_parser, spec_from
    args = build_parser().parse_args(["tui", *(sys.argv[1:] if argv is None else argv)])
    app = served_app_class()(spec_from(args), theme=args.theme)
    app.driver_class = SessionDriver
    try:
        app.run()
    finally:
        app.stop_driver()
    return 0


# -- the server's side ------------------------------------------------------------------

def session_command(args: list[str]) -> str:
    """The shell command textual-serve runs for each tab (`exec`: no shell left behind)."""
    return "exec " + shlex.join([sys.executable, "-m", "vmapviz.faces.serve", *args])


def make_server(host: str, port: int, fontsize: int, session_args: list[str],
                public_url: str | None = None, max_sessions: int = MAX_SESSIONS):
    """A textual-serve Server for vmapviz (imported here: textual-serve loads aiohttp)."""
    import aiohttp_jinja2
    from aiohttp import WSMsgType, web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class Session(AppService):
        """One tab's app process, which ends whatever its socket does."""

        gone = False   # the tab can no longer be written to: its output is read and dropped

        async def on_data(self, payload: bytes) -> None:
            await self._to_tab(self.remote_write_bytes, payload)

        async def on_meta(self, data: bytes) -> None:
            if not self.gone:
                try:
                    await super().on_meta(data)
                except Exception:   # noqa: BLE001 - a failed socket or a bad packet: the tab is gone
                    self.gone = True

        async def _to_tab(self, write, payload) -> None:
            if not self.gone:
                try:
                    await write(payload)
                except Exception:   # noqa: BLE001 - the socket failed mid-frame: keep reading
                    self.gone = True

        async def end(self) -> None:
            """Tell the app to quit and close its input; terminate it, then kill it, if
            it has not gone within QUIT_TIMEOUT."""
            self.gone = True
            process = self._process
            if process is None:
                return
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            try:
                await asyncio.wait_for(self.send_meta({"type": "quit"}), 1.0)
            except (asyncio.TimeoutError, Exception):   # noqa: BLE001 - its input is full or closed
                pass
            try:
                self.stdin.close()
            except Exception:   # noqa: BLE001
                pass
            for stop in (None, process.terminate, process.kill):
                if stop is not None:
                    try:
                        stop()
                    except ProcessLookupError:
                        pass
                try:
                    await asyncio.wait_for(asyncio.shield(process.wait()), QUIT_TIMEOUT)
                    break
                except asyncio.TimeoutError:
                    continue
            if self._task is not None:
                await asyncio.wait({self._task}, timeout=QUIT_TIMEOUT)

    class VmapvizServer(Server):
        def __init__(self) -> None:
            super().__init__(session_command(session_args), host=host, port=port, title="vmapviz",
                             public_url=public_url)
            self.given_url = public_url
            self.gate = Gate(host, public_url)
            self.sessions: set[Session] = set()
            self.tasks: set[asyncio.Task] = set()

        def base_url(self, request: web.Request) -> str:
            """Where the page's own URLs point: --public-url, or the address the browser used."""
            return self.given_url or f"{request.scheme}://{request.host}"

        def full(self) -> bool:
            return len(self.sessions) >= max_sessions

        async def handle_index(self, request: web.Request):
            refusal = self.gate.host_refusal(request.host)
            if refusal:
                return web.Response(status=403, text=refusal + "\n")
            if self.full():
                return web.Response(status=503, text=FULL_PAGE.format(n=max_sessions),
                                    content_type="text/html")
            base = self.base_url(request)
            ws = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1]
            size = clamp(request.query.get("fontsize"), 6, 96, fontsize)
            context = {"font_size": size,
                       "app_websocket_url": f"{ws}{request.app.router['websocket'].url_for()}",
                       "config": {"static": {"url": f"{base}/static/"}},
                       "application": {"name": "vmapviz"}}
            response = aiohttp_jinja2.render_template("app_index.html", request, context)
            html = response.text.replace("<head>", "<head>\n" + VISIBILITY_SCRIPT, 1)
            return web.Response(text=html, content_type="text/html")

        async def handle_websocket(self, request: web.Request):
            refusal = self.gate.refusal(request.host, request.headers.get("Origin"))
            if refusal:
                return web.Response(status=403, text=refusal + "\n")
            if self.full():
                return web.Response(status=503, text=f"vmapviz: all {max_sessions} sessions are in use\n")
            width = clamp(request.query.get("width"), MIN_SIZE[0], MAX_SIZE[0], 80)
            height = clamp(request.query.get("height"), MIN_SIZE[1], MAX_SIZE[1], 24)
            websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE)
            session = Session(self.command, write_bytes=websocket.send_bytes,
                              write_str=websocket.send_str, close=websocket.close,
                              download_manager=self.download_manager)
            task = asyncio.current_task()
            self.sessions.add(session)
            self.tasks.add(task)
            try:
                await websocket.prepare(request)
                await session.start(width, height)
                await self.relay(websocket, session)
            except asyncio.CancelledError:
                pass   # the server is stopping
            except Exception:   # noqa: BLE001 - a failed socket ends its session, below
                pass
            finally:
                await session.end()
                self.sessions.discard(session)
                self.tasks.discard(task)
                try:
                    await websocket.close()
                except Exception:   # noqa: BLE001
                    pass
            return websocket

        async def relay(self, websocket, session: Session) -> None:
            """The tab's messages to its app, until the socket closes."""
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    kind, *rest = json.loads(message.data)
                except (ValueError, TypeError):
                    continue
                arg = rest[0] if rest else None
                if kind == "stdin" and isinstance(arg, str):
                    await session.send_bytes(arg.encode("utf-8"))
                elif kind == "resize" and isinstance(arg, dict):
                    await session.set_terminal_size(
                        clamp(arg.get("width"), MIN_SIZE[0], MAX_SIZE[0], 80),
                        clamp(arg.get("height"), MIN_SIZE[1], MAX_SIZE[1], 24))
                elif kind == "ping" and isinstance(arg, str):
                    await websocket.send_json(["pong", arg[:32]])
                elif kind in ("blur", "focus"):
                    await session.send_meta({"type": kind})
                elif kind == "visibility" and arg in ("hidden", "visible"):
                    await session.send_meta({"type": "visibility", "hidden": arg == "hidden"})

        async def on_startup(self, app: web.Application) -> None:
            pass   # textual-serve's banner: ours is printed once the port is bound, below

        def serve(self, debug: bool = False) -> None:
            """Serve until SIGINT or SIGTERM; say so once the port is listening."""
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_exit)
            url = self.given_url or self.public_url

            def bound(*_) -> None:   # aiohttp calls it after the site has started
                print(f"vmapviz: serving on {url}/  (ctrl+c stops)", flush=True)

            web.run_app(self._make_app(), host=host, port=port, handle_signals=False, loop=loop,
                        print=bound)

        async def on_shutdown(self, app: web.Application) -> None:
            """Close every session: each tells its app to quit, waits, then kills it."""
            tasks = list(self.tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=3 * QUIT_TIMEOUT)
            for session in list(self.sessions):   # a session whose task could not finish
                if session._process is not None and session._process.returncode is None:
                    session._process.kill()

    return VmapvizServer()


def serve(host: str, port: int, fontsize: int, session_args: list[str],
          public_url: str | None = None, max_sessions: int = MAX_SESSIONS) -> None:
    if host not in LOCAL_HOSTS:
        print(f"vmapviz: warning: serving on {host}: anyone who can reach this machine on port "
              f"{port} can open a session, which runs code here", file=sys.stderr, flush=True)
    make_server(host, port, fontsize, session_args, public_url, max_sessions).serve()


def session_args(args) -> list[str]:
    """The arguments `vmapviz serve` hands to every tab's app: a `vmapviz tui` command
    line, which the tab parses with the CLI's own parser (main())."""
    out = [args.workload]
    for name in ("variant", "cpus", "bits", "seed", "flush", "config_nr_cpus", "theme"):
        value = getattr(args, name)
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    return out + ["--tiny"] * bool(getattr(args, "tiny", False))


if __name__ == "__main__":
    sys.exit(main())
