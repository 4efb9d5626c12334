"""Homework from the quiz: one sheet per student (Markdown and a printable HTML page),
each from its own seed, an answer key (JSON and Markdown, with the why), and grading a
class's answers (a CSV file) against the key.

A student's seed is derived from the sheet's seed and the student's name (or number),
so the same class list and seed give the same sheets, and no two students share one.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from typing import Any
from pathlib import Path

from . import quiz
from ..run.spec import RunSpec


class GradeError(ValueError):
    """A malformed key or answers file: the message names the file, the line and the problem."""


def students_from(spec: str) -> list[str]:
    """`30` gives student-01 .. student-30; a file gives one name a line (blank lines
    and # comments skipped)."""
    if re.fullmatch(r"[0-9]+", spec):
        n = int(spec)
        if not 1 <= n <= 1000:
            raise GradeError(f"--students takes 1 to 1,000 students, not {n}")
        return [f"student-{i:0{max(2, len(str(n)))}d}" for i in range(1, n + 1)]
    names = []
    for number, line in enumerate(Path(spec).read_text(encoding="utf-8").splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if "," in name or name in names:
            raise GradeError(f"{spec}:{number}: {'a comma in a name' if ',' in name else 'a name twice'}: {name!r}")
        names.append(name)
    if not names:
        raise GradeError(f"{spec}: no student names in it")
    return names


def student_seed(sheet_seed: int, name: str) -> int:
    """A student's seed: from the sheet's seed and the name, stable across runs."""
    return int.from_bytes(hashlib.sha256(f"vmapviz-sheet:{sheet_seed}:{name}".encode()).digest()[:4], "big")


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "student"


def write_sheets(directory: str, spec: RunSpec, names: list[str], n: int,
                 kinds: list[str] | None, level: int, horizon: int) -> list[Path]:
    """Write every student's sheet and the key into `directory`; the paths written."""
    workload, config = spec.workload, spec.config
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    key: dict[str, Any] = {"workload": workload.name, "variant": config.variant, "nr_cpus": config.nr_cpus,
           "bits": config.bits, "sheet_seed": config.seed, "level": level, "kinds": kinds or list(quiz.KINDS),
           "students": []}
    written, slugs = [], set()
    for name in names:
        seed = student_seed(config.seed, name)
        student = RunSpec(workload, config.replace(seed=seed))
        cfg = student.config
        questions = quiz.generate(student, n, horizon, kinds)
        s = slug(name)
        while s in slugs:
            s += "_"
        slugs.add(s)
        header = quiz.machine_lines(cfg, workload)
        md = _markdown(name, header, questions)
        (out / f"{s}.md").write_text(md, encoding="utf-8")
        (out / f"{s}.html").write_text(_html(name, header, questions), encoding="utf-8")
        written += [out / f"{s}.md", out / f"{s}.html"]
        key["students"].append({"name": name, "seed": seed, "sheet": f"{s}.md",
                                "questions": [q.as_json() for q in questions]})
    (out / "key.json").write_text(json.dumps(key, indent=1), encoding="utf-8")
    (out / "key.md").write_text(_key_markdown(key), encoding="utf-8")
    return written + [out / "key.json", out / "key.md"]


def _markdown(name: str, header: list[str], questions: list) -> str:
    lines = [f"# vmalloc homework: {name}", "", *[f"    {h}" for h in header], "",
             "Work each answer out by hand from what the question shows, then write it on the line.", ""]
    for i, q in enumerate(questions, 1):
        lines += [f"{i}. {q.question}", "", "   answer: ______________________", ""]
    return "\n".join(lines)


def _html(name: str, header: list[str], questions: list) -> str:
    e = html.escape
    items = "\n".join(f"<li><p>{e(q.question)}</p><p class=answer>answer:</p></li>" for q in questions)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vmalloc homework: {e(name)}</title>
<style>
body {{ font-family: serif; max-width: 48em; margin: 2em auto; line-height: 1.4; }}
pre {{ font-size: 90%; }} li {{ margin-bottom: 1.5em; word-break: break-word; }}
.answer {{ border-bottom: 1px solid black; height: 1.6em; }}
@media print {{ li {{ break-inside: avoid; }} }}
</style></head><body>
<h1>vmalloc homework: {e(name)}</h1>
<pre>{e(chr(10).join(header))}</pre>
<p>Work each answer out by hand from what the question shows, then write it on the line.</p>
<ol>
{items}
</ol></body></html>
"""


def _key_markdown(key: dict) -> str:
    lines = [f"# Answer key: {key['workload']} on {key['variant']}, sheet seed {key['sheet_seed']}", ""]
    for st in key["students"]:
        lines += [f"## {st['name']} (seed {st['seed']})", ""]
        for i, q in enumerate(st["questions"], 1):
            answer = f"{q['answer']:,}" if isinstance(q["answer"], int) else q["answer"]
            lines += [f"{i}. op {q['op']:,} ({q['kind']}): **{answer}**: {q['why']}", ""]
    return "\n".join(lines)


# -- grading --------------------------------------------------------------------------------

def load_key(path: str) -> dict:
    try:
        key = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GradeError(f"{path}: not a vmapviz answer key (JSON): {e}") from None
    if not isinstance(key, dict) or not isinstance(key.get("students"), list):
        raise GradeError(f"{path}: not a vmapviz answer key (no \"students\" list)")
    return key


def grade(key_path: str, answers_path: str) -> dict:
    """Each student's answers (a CSV: a header `student,1,2,...`, then one row a
    student, an empty cell for no answer) checked against the key."""
    key = load_key(key_path)
    by_name = {s["name"]: s for s in key["students"]}
    try:
        text = Path(answers_path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GradeError(f"{answers_path}:1: not UTF-8 text") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not rows[0] or rows[0][0].strip().lower() != "student":
        raise GradeError(f"{answers_path}:1: the first line must be the header student,1,2,...")
    width = len(rows[0]) - 1
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        name = row[0].strip()
        if name not in by_name:
            raise GradeError(f"{answers_path}:{line}: no student {name!r} in the key")
        if name in seen:
            raise GradeError(f"{answers_path}:{line}: student {name!r} a second time")
        seen.add(name)
        questions = by_name[name]["questions"]
        if len(row) - 1 > max(width, len(questions)):
            raise GradeError(f"{answers_path}:{line}: {len(row) - 1} answers, but {name} has "
                             f"{len(questions)} questions")
        marks = []
        for i, q in enumerate(questions):
            reply = row[i + 1].strip() if i + 1 < len(row) else ""
            question = quiz.Question(q["op"], q["kind"], q["question"], q["answer"], q["why"], q.get("given", {}))
            marks.append(bool(reply) and quiz.check(question, reply))
        results.append({"name": name, "score": sum(marks), "of": len(marks), "right": marks})
    if not results:
        raise GradeError(f"{answers_path}: no student's answers in it")
    most = max(r["of"] for r in results)
    per_question = [{"number": i + 1, "right": sum(r["right"][i] for r in results if i < r["of"]),
                     "of": sum(1 for r in results if i < r["of"])} for i in range(most)]
    missing = sorted(set(by_name) - seen)
    return {"students": results, "questions": per_question, "missing": missing}


def grade_lines(report: dict) -> list[str]:
    lines = ["student                      score  per question (+ right, - wrong)"]
    for r in report["students"]:
        lines.append(f"{r['name']:<28} {r['score']:>2}/{r['of']:<3} "
                     + "".join("+" if ok else "-" for ok in r["right"]))
    lines.append("")
    lines += [f"question {q['number']}: {q['right']} of {q['of']} right" for q in report["questions"]]
    if report["missing"]:
        lines.append(f"no answers from: {', '.join(report['missing'])}")
    return lines
