"""`vmapviz export --html`: a run as one self-contained HTML file, a player that needs
no server and no network (its script, styles and frames are inside it).

The frames are the GIF's: the screen's cells (character, colours, weight) a frame
every K ops.  The first frame holds every cell; each later one only the cells that
changed, as runs of neighbouring cells of one style in a row, `[row, column, style,
text]`; the styles (foreground, background, bold) form one table for the whole file.
The page draws the screen as text (spans of a style in rows of `white-space: pre`), so
the screen, the op number and the explanation are real text: selectable, searchable.
A slider, the arrow keys (a frame), Home/End, and space or a button (play/pause) scrub
through it.
"""

from __future__ import annotations

import html
import json

from ..run.spec import RunSpec

# The player.  FILM is the data: {"fps", "cols", "rows", "bg", "fg", "styles":
# [[fg, bg, bold]...], "frames": [{"op", "text", "runs": [[y, x, style, text]...]}]}.
PLAYER_JS = r"""
const film = JSON.parse(document.getElementById("film").textContent);
const screen = document.getElementById("screen"), slider = document.getElementById("slider");
const opLabel = document.getElementById("op"), explain = document.getElementById("explain");
const playButton = document.getElementById("play");
const rows = [], cells = [];
for (let y = 0; y < film.rows; y++) {
  const row = document.createElement("div");
  row.className = "row";
  row.id = "row-" + y;
  screen.appendChild(row);
  rows.push(row);
  cells.push(new Array(film.cols).fill(null).map(() => [" ", 0]));
}
let shown = -1, timer = null;
const dirty = new Set();
function apply(i) {
  for (const [y, x, style, text] of film.frames[i].runs) {
    const chars = Array.from(text);
    for (let k = 0; k < chars.length; k++) cells[y][x + k] = [chars[k], style];
    dirty.add(y);
  }
}
function escapeText(t) {
  return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
function draw() {
  for (const y of dirty) {
    let out = "", style = -1, text = "";
    for (const [ch, s] of cells[y]) {
      if (s !== style) {
        if (style >= 0) out += '<span class="s' + style + '">' + escapeText(text) + "</span>";
        style = s; text = "";
      }
      text += ch;
    }
    out += '<span class="s' + style + '">' + escapeText(text) + "</span>";
    rows[y].innerHTML = out;
  }
  dirty.clear();
}
function show(i) {
  i = Math.max(0, Math.min(film.frames.length - 1, i));
  if (i === shown) return;
  if (i < shown) shown = -1;
  for (let k = shown + 1; k <= i; k++) apply(k);
  shown = i;
  draw();
  const f = film.frames[i];
  slider.value = i;
  opLabel.textContent = "op " + f.op.toLocaleString("en") + " · frame " + (i + 1) + " of " + film.frames.length;
  explain.textContent = f.text;
  document.body.dataset.op = f.op;
}
function play(on) {
  if (timer !== null) { clearInterval(timer); timer = null; }
  if (on) {
    if (shown >= film.frames.length - 1) show(0);
    timer = setInterval(() => {
      if (shown >= film.frames.length - 1) play(false); else show(shown + 1);
    }, 1000 / film.fps);
  }
  playButton.textContent = timer === null ? "play" : "pause";
}
slider.max = film.frames.length - 1;
slider.addEventListener("input", () => { play(false); show(Number(slider.value)); });
playButton.addEventListener("click", () => play(timer === null));
document.getElementById("prev").addEventListener("click", () => { play(false); show(shown - 1); });
document.getElementById("next").addEventListener("click", () => { play(false); show(shown + 1); });
document.addEventListener("keydown", (e) => {
  if (e.target === slider && (e.key === "ArrowLeft" || e.key === "ArrowRight")) return;  // its own
  const to = {ArrowLeft: shown - 1, ArrowRight: shown + 1, Home: 0, End: film.frames.length - 1}[e.key];
  if (to !== undefined) { play(false); show(to); e.preventDefault(); }
  else if (e.key === " ") { play(timer === null); e.preventDefault(); }
});
window.player = {show, play, get frame() { return shown; }};
show(0);
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ background: {bg}; color: {fg}; margin: 1em; font-family: sans-serif; }}
#screen {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 14px; line-height: 1.22; display: inline-block; background: {bg}; }}
.row {{ white-space: pre; height: 1.22em; }}
.row span {{ display: inline-block; height: 1.22em; vertical-align: top; }}
#controls {{ margin: 0.6em 0; display: flex; gap: 0.6em; align-items: center; }}
#slider {{ flex: 1; max-width: 60em; }}
#op {{ font-weight: bold; font-variant-numeric: tabular-nums; }}
#explain {{ max-width: 60em; line-height: 1.4; }}
button {{ min-width: 4.5em; }}
{styles}
</style></head>
<body>
<h1 style="font-size: 1.1em">{heading}</h1>
<div id="controls"><button id="play">play</button><button id="prev">&#8592;</button>
<input id="slider" type="range" min="0" value="0" aria-label="frame">
<button id="next">&#8594;</button><span id="op"></span></div>
<div id="screen"></div>
<p id="explain"></p>
<p style="opacity: 0.7; font-size: 0.9em">Arrow keys: a frame back or on; Home, End; space: play or
pause. Made by vmapviz export --html; this file needs no network.</p>
<script type="application/json" id="film">{film}</script>
<script>{script}</script>
</body></html>
"""


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class HtmlFilm:
    """The frames of a run for the player: the changed cells of each, one style table."""

    def __init__(self, app, fps: float, spec: RunSpec, layout: str) -> None:
        self.app, self.fps, self.layout = app, fps, layout
        self.title = f"vmapviz {spec.workload.name}"
        self.styles: dict[tuple, int] = {}
        self.frames: list[dict] = []
        self.rows: list[tuple] = []
        self.size = (0, 0)

    def style(self, cell: tuple) -> int:
        key = (cell[1], cell[2], cell[3])
        if key not in self.styles:
            self.styles[key] = len(self.styles)
        return self.styles[key]

    def add_frame(self, op: int, rows: list[tuple]) -> None:
        """One frame: the runs of cells that differ from the frame before."""
        if not self.frames:
            self.size = (max(map(len, rows)), len(rows))
        runs = []
        for y, row in enumerate(rows):
            was = self.rows[y] if y < len(self.rows) else ()
            if row == was:
                continue
            x = 0
            while x < len(row):
                if x < len(was) and was[x] == row[x]:
                    x += 1
                    continue
                style, start = self.style(row[x]), x
                while x < len(row) and (x >= len(was) or was[x] != row[x]) and self.style(row[x]) == style:
                    x += 1
                runs.append([y, start, style, "".join(cell[0] for cell in row[start:x])])
        self.rows = rows
        self.frames.append({"op": op, "text": self.explanation(), "runs": runs})

    def explanation(self) -> str:
        """What the explanation panel says, as plain text."""
        box = self.app.explain_box
        return f"{box.border_title}: {self.app.explain_text.content}" if box.display else ""

    def page(self) -> str:
        theme = self.app.ansi_theme
        bg, fg = hex_colour(tuple(theme.background_color)), hex_colour(tuple(theme.foreground_color))
        css = "\n".join(f".s{i} {{ color: {hex_colour(f)}; background: {hex_colour(b)};"
                        f"{' font-weight: bold;' if bold else ''} }}"
                        for (f, b, bold), i in self.styles.items())
        film = {"fps": self.fps, "cols": self.size[0], "rows": self.size[1], "frames": self.frames}
        data = json.dumps(film, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
        first, last = self.frames[0]["op"], self.frames[-1]["op"]
        heading = f"{self.title}: ops {first:,} to {last:,}, {len(self.frames)} frames ({self.layout} layout)"
        return PAGE.format(title=html.escape(self.title), heading=html.escape(heading), bg=bg, fg=fg,
                           styles=css, film=data, script=PLAYER_JS)
