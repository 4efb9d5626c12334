"""`vmapviz export --gif/--html` and `screenshot` as slides: which ops the frames show
(--from, --until, --until-flush), frames without key hints or the PAUSED badge, the
HTML player's data decoded to the GIF's own cells, screenshot --layout/--font-size,
and an export stopped by SIGTERM (130, no file, no false timeout)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from vmapviz.faces.cli import main
from vmapviz.run.driver import Run as KernelRun
from vmapviz.faces.export import GifWriter
from vmapviz.tui.headless import Span
from vmapviz.workloads import get

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("span, ops", [
    (Span(10, 50), [10, 20, 30, 40, 50]),            # today's default: the first frame after K ops
    (Span(10, 50, start=0), [0, 10, 20, 30, 40, 50]),
    (Span(7, 20, start=3), [3, 10, 17]),             # 24 would pass --until
    (Span(10, 5), []),
])
def test_the_frames_ops(span, ops):
    assert list(span.targets()) == ops


def first_flush(workload: str, after: int = 0) -> int:
    """The first op after `after` with a flush event, by running the kernel (an oracle
    apart from the export: no app, no driver)."""
    w = get(workload)
    run = KernelRun(w, w.config())
    for op in range(1, 100_000):
        events = run.step()
        assert events is not None, "the workload ended without a flush"
        if op > after and any(e.kind == "flush" for e in events):
            return op
    raise AssertionError("no flush")


def film_of(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="film">(.*?)</script>', text, re.S).group(1)
    return json.loads(data.replace("<\\/", "</"))


def html_screens(film: dict) -> list[list[list]]:
    """The player's frames decoded by hand: a grid of [char, style], runs applied in order."""
    grid = [[None] * film["cols"] for _ in range(film["rows"])]
    screens = []
    for frame in film["frames"]:
        for y, x, style, text in frame["runs"]:
            for k, ch in enumerate(text):
                grid[y][x + k] = [ch, style]
        screens.append([row[:] for row in grid])
    return screens


def styles_of(path: Path) -> dict[int, tuple]:
    """The style table from the page's CSS: index -> (fg hex, bg hex, bold)."""
    css = path.read_text(encoding="utf-8")
    out = {}
    for i, fg, bg, rest in re.findall(r"\.s(\d+) \{ color: (#\w+); background: (#\w+);([^}]*)\}", css):
        out[int(i)] = (fg, bg, "bold" in rest)
    return out


def hexed(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def test_the_html_player_holds_the_gifs_cells_frame_by_frame(tmp_path, monkeypatch):
    shown = []
    add = GifWriter.add
    monkeypatch.setattr(GifWriter, "add", lambda self, rows: (shown.append(rows), add(self, rows)))
    html, gif = tmp_path / "run.html", tmp_path / "run.gif"
    assert main(["export", "--html", str(html), "--gif", str(gif), "--from", "0", "--ops", "40",
                 "--every", "10", "--size", "100x30"]) == 0
    film = film_of(html)
    assert [f["op"] for f in film["frames"]] == [0, 10, 20, 30, 40]
    assert (film["cols"], film["rows"]) == (100, 30)
    styles = styles_of(html)
    for i, (screen, rows) in enumerate(zip(html_screens(film), shown, strict=True)):
        for y, row in enumerate(rows):
            got = [(ch, *styles[s]) for ch, s in screen[y][:len(row)]]
            assert got == [(c, hexed(fg), hexed(bg), bold) for c, fg, bg, bold in row], f"frame {i} row {y}"
    # the explanation of each frame as text, its op named
    assert film["frames"][-1]["text"].startswith("what just happened · op 40:")
    with Image.open(gif) as g:
        assert g.n_frames == 5


def screen_text(rows) -> str:
    return "\n".join("".join(cell[0] for cell in row) for row in rows)


def test_frames_have_no_key_hints_and_no_paused_badge(tmp_path, monkeypatch):
    shown = []
    add = GifWriter.add
    monkeypatch.setattr(GifWriter, "add", lambda self, rows: (shown.append(rows), add(self, rows)))
    assert main(["export", "--gif", str(tmp_path / "a.gif"), "--ops", "20", "--every", "10",
                 "--layout", "full"]) == 0
    for op, rows in zip((10, 20), shown, strict=True):
        text = screen_text(rows)
        header, last = text.splitlines()[0], text.splitlines()[-1]
        assert "PAUSED" not in text and "RUNNING" not in header and "ops/s" not in header
        assert header.rstrip().endswith(f"op {op}")
        assert "palette" not in text and "quit" not in last and "help" not in last   # the footer
        assert last.startswith("╰")   # the bottom panels' border is the last row


def test_until_flush_ends_on_the_first_flush(tmp_path):
    flush = first_flush("map-touch-unmap")
    html = tmp_path / "f.html"
    assert main(["export", "--html", str(html), "--from", "0", "--every", "2000", "--until-flush"]) == 0
    ops = [f["op"] for f in film_of(html)["frames"]]
    assert ops == list(range(0, flush, 2000)) + [flush]   # 21,125 on map-touch-unmap
    assert "flush" in film_of(html)["frames"][-1]["text"].lower()
    # --from: the search starts after the first frame
    later = first_flush("map-touch-unmap", after=flush)
    assert main(["export", "--html", str(html), "--from", str(flush), "--every", "100000",
                 "--until-flush"]) == 0
    assert [f["op"] for f in film_of(html)["frames"]] == [flush, later]


def test_screenshot_until_flush_layout_and_font_size(tmp_path, capsys):
    flush = first_flush("map-touch-unmap")
    svg = tmp_path / "s.svg"
    assert main(["screenshot", "--out", str(svg), "--until-flush", "--layout", "presenter"]) == 0
    text = svg.read_text().replace("&#160;", " ")
    assert f"op {flush:,}" in text and "what just happened" in text
    assert "vmap blocks" not in text and "PAUSED" not in text   # presenter layout, a slide
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    assert main(["screenshot", "--out", str(big), "--ops", "5"]) == 0
    assert main(["screenshot", "--out", str(small), "--ops", "5", "--font-size", "10"]) == 0
    with Image.open(big) as b, Image.open(small) as s:
        # 20 px is the SVG's own type: 10 px halves the picture
        assert abs(s.size[0] * 2 - b.size[0]) <= 2 and abs(s.size[1] * 2 - b.size[1]) <= 2
    assert main(["screenshot", "--out", str(svg), "--ops", "5", "--font-size", "10"]) == 0
    view = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)" width="(\d+)" height="(\d+)"', svg.read_text())
    assert view and abs(float(view[1]) / 2 - int(view[3])) <= 1


@pytest.mark.parametrize("argv, message", [
    (["export", "--ops", "10", "--every", "5"], "--gif FILE.gif or --html FILE.html"),
    (["export", "--html", "x.html", "--every", "5"], "needs --ops N (or --until OP, or --until-flush)"),
    (["export", "--html", "x.html", "--from", "50", "--until", "20", "--every", "5"], "--from 50 is after"),
    (["export", "--html", "x.gif", "--ops", "10", "--every", "5"], "must end in .html"),
    (["screenshot", "--out", "x.svg", "--from", "5", "--until", "9"], "not both"),
])
def test_bad_film_options_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_sigterm_during_an_export_gives_130_and_no_file(tmp_path):
    """Not "the app did not reach op N": the export stops, says so, writes nothing."""
    out = tmp_path / "long.gif"
    proc = subprocess.Popen([sys.executable, "-m", "vmapviz", "export", "--gif", str(out), "--ops",
                             "10000000", "--every", "1000000"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(8)   # running its first frame's million ops
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "did not reach" not in err
    assert not out.exists()


def test_a_slow_frame_is_waited_for(tmp_path, monkeypatch):
    """No deadline per frame: a frame whose ops take long (here the driver stalls 3 s in
    each step command) comes when they are done; the session waits on the driver's own
    word that the command has run, not on a clock."""
    import vmapviz.run.driver as driver

    steps = driver.Driver._steps

    def slow(self, n):
        time.sleep(3)
        steps(self, n)
    monkeypatch.setattr(driver.Driver, "_steps", slow)
    path = tmp_path / "slow.gif"
    assert main(["export", "--gif", str(path), "--ops", "20", "--every", "10", "--size", "80x24"]) == 0
    with Image.open(path) as gif:
        assert gif.n_frames == 2
    assert os.path.getsize(path) > 0
