"""`vmapviz serve`: the TUI in a browser, one app process per tab, on textual-serve.

The server runs `python -m vmapviz.faces.serve SESSION-ARGS` for every browser tab that
connects and pipes the tab's websocket to that process's stdin and stdout.  A session
ends with its tab: the server tells the app to quit when the websocket closes, and the
app also quits on its own when its stdin reaches end of file, which is what an app
sees when the server is gone however it went (Textual's web driver would otherwise
leave such an orphan running its simulation).  On SIGTERM, SIGINT or ctrl+c the
server closes every session and waits for its app before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys

from textual import messages
from textual.drivers.web_driver import WebDriver

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
QUIT_TIMEOUT = 5.0   # seconds the server waits for the apps of its sessions to quit


class SessionDriver(WebDriver):
    """Textual's web driver, except that the app quits when its input ends."""

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        finally:
            if not self.exit_event.is_set():   # end of input, not our own stop: the server is gone
                self._app.post_message(messages.ExitApp())


def session_command(args: list[str]) -> str:
    """The shell command textual-serve runs for each tab (`exec`: no shell left behind)."""
    return "exec " + shlex.join([sys.executable, "-m", "vmapviz.faces.serve", *args])


def make_server(host: str, port: int, fontsize: int, session_args: list[str]):
    """A textual-serve Server for vmapviz (imported here: textual-serve loads aiohttp)."""
    from aiohttp import web
    from textual_serve.server import Server

    class VmapvizServer(Server):
        def __init__(self) -> None:
            super().__init__(session_command(session_args), host=host, port=port, title="vmapviz")
            self.sessions: set[asyncio.Task] = set()

        async def handle_index(self, request: web.Request):
            if "fontsize" not in request.query:   # the page's default type size
                request = request.clone(rel_url=request.rel_url.update_query(fontsize=fontsize))
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request):
            task = asyncio.current_task()
            self.sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions.discard(task)

        async def on_startup(self, app: web.Application) -> None:
            print(f"vmapviz: serving on {self.public_url}/  (ctrl+c stops)", flush=True)

        async def on_shutdown(self, app: web.Application) -> None:
            """Close every session: each tells its app to quit and waits for it."""
            sessions = list(self.sessions)
            for task in sessions:
                task.cancel()
            if sessions:
                await asyncio.wait(sessions, timeout=QUIT_TIMEOUT)

    return VmapvizServer()


def serve(host: str, port: int, fontsize: int, session_args: list[str]) -> None:
    if host not in LOCAL_HOSTS:
        print(f"vmapviz: warning: serving on {host}: anyone who can reach this machine on port "
              f"{port} can open a session, which runs code here", file=sys.stderr, flush=True)
    make_server(host, port, fontsize, session_args).serve()


def session_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vmapviz.faces.serve",
                                description="one browser tab's app (run by `vmapviz serve`)")
    p.add_argument("workload")
    p.add_argument("--variant")
    p.add_argument("--cpus", type=int)
    p.add_argument("--bits", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--flush")
    p.add_argument("--config-nr-cpus", type=int)
    p.add_argument("--theme")
    return p


def session_args(args) -> list[str]:
    """The arguments `vmapviz serve` hands to every tab's app."""
    out = [args.workload]
    for name in ("variant", "cpus", "bits", "seed", "flush", "config_nr_cpus", "theme"):
        value = getattr(args, name)
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    return out


def main(argv: list[str] | None = None) -> int:
    """One tab's app: the TUI on the web driver."""
    from ..tui.app import VmapvizApp
    args = session_parser().parse_args(argv)
    app = VmapvizApp(args.workload, args.variant, args.cpus, args.bits, args.seed, args.flush,
                     theme=args.theme, config_nr_cpus=args.config_nr_cpus)
    app.driver_class = SessionDriver
    try:
        app.run()
    finally:
        app.stop_driver()
    return 0


if __name__ == "__main__":
    sys.exit(main())
