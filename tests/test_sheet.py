"""Sheets and grading (issue 23 §3), --tiny and -s (§2): a class of 30, a hand-made
answers file, and malformed ones."""

import json

from vmapviz.teaching import quiz
from vmapviz.run.spec import RunSpec
from vmapviz.faces.cli import main
from vmapviz.kernel.config import Config
from vmapviz.workloads import get


def make_class(tmp_path, capsys):
    d = tmp_path / "sheets"
    assert main(["quiz", "map-touch-unmap", "--tiny", "-s", "7", "-n", "4", "--ops", "400",
                 "--sheet", str(d), "--students", "30"]) == 0
    assert "30 sheets" in capsys.readouterr().out
    return d, json.loads((d / "key.json").read_text())


def test_a_class_of_30_gets_30_sheets_with_their_own_seeds_and_a_key(tmp_path, capsys):
    d, key = make_class(tmp_path, capsys)
    names = [s["name"] for s in key["students"]]
    assert names == [f"student-{i:02d}" for i in range(1, 31)]
    assert len({s["seed"] for s in key["students"]}) == 30
    for s in key["students"]:
        md = (d / f"{s['name']}.md").read_text()
        page = (d / f"{s['name']}.html").read_text()
        assert len(s["questions"]) == 4
        assert md.count("answer: ______") == 4
        for i, q in enumerate(s["questions"], 1):
            assert f"{i}. {q['question']}" in md and q["answer"] is not None and q["why"]
            assert q["why"] not in md and q["why"] not in page           # no answers on a sheet
            assert q["question"][:30].replace("&", "&amp;") in page
            assert set(q) == {"op", "kind", "question", "answer", "why", "given"}
    # The same class and seed: the same sheets; a student's sheet is the quiz of its seed.
    first = key["students"][0]
    w = get("map-touch-unmap")
    again = quiz.generate(RunSpec.of(w, tiny=True, seed=first["seed"]), 4, 400, quiz.LEVELS[2])
    assert [q.as_json() for q in again] == first["questions"]
    keymd = (d / "key.md").read_text()
    assert "## student-30" in keymd and first["questions"][0]["why"] in keymd


def test_grade_a_hand_made_answers_file(tmp_path, capsys):
    d, key = make_class(tmp_path, capsys)
    st = key["students"]
    right = [str(q["answer"]) for q in st[0]["questions"]]
    # student-01 all right; student-02 the first right, the rest wrong or blank; 03 blank row
    two = [str(st[1]["questions"][0]["answer"]), "0xdead", "", "nope"]
    answers = tmp_path / "answers.csv"
    answers.write_text("student,1,2,3,4\n"
                       f"student-01,{','.join(right)}\n"
                       f"student-02,{','.join(two)}\n"
                       "student-03,,,,\n")
    assert main(["grade", str(d / "key.json"), str(answers), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    scores = {s["name"]: (s["score"], s["of"]) for s in report["students"]}
    assert scores == {"student-01": (4, 4), "student-02": (1, 4), "student-03": (0, 4)}
    assert [q["right"] for q in report["questions"]] == [2, 1, 1, 1]
    assert len(report["missing"]) == 27
    assert main(["grade", str(d / "key.json"), str(answers)]) == 0
    out = capsys.readouterr().out
    assert "student-01" in out and " 4/4" in out and "++++" in out and "question 1: 2 of 3 right" in out


def test_a_malformed_answers_file_names_its_line(tmp_path, capsys):
    d, _ = make_class(tmp_path, capsys)
    bad = tmp_path / "bad.csv"
    for text, where in (("name,1\n", ":1:"), ("student,1,2,3,4\nstudent-01,a\nnobody,1\n", ":3:"),
                        ("student,1,2,3,4\nstudent-01,1\nstudent-01,2\n", ":3:"),
                        ("student,1,2,3,4\nstudent-02,1,2,3,4,5,6\n", ":2:")):
        bad.write_text(text)
        assert main(["grade", str(d / "key.json"), str(bad)]) == 2
        err = capsys.readouterr().err
        assert f"bad.csv{where}" in err and err.count("\n") == 1
    assert main(["grade", str(bad), str(bad)]) == 2
    assert "not a vmapviz answer key" in capsys.readouterr().err


def test_students_from_a_file(tmp_path, capsys):
    names = tmp_path / "class.txt"
    names.write_text("# my class\nAda Lovelace\n\nAlan Turing\n")
    assert main(["quiz", "--tiny", "-n", "2", "--ops", "300", "--sheet", str(tmp_path / "s"),
                 "--students", str(names)]) == 0
    capsys.readouterr()
    key = json.loads((tmp_path / "s" / "key.json").read_text())
    assert [s["name"] for s in key["students"]] == ["Ada Lovelace", "Alan Turing"]
    assert (tmp_path / "s" / "Ada-Lovelace.html").exists()
    assert main(["quiz", "--sheet", str(tmp_path / "s")]) == 2


def test_tiny_changes_only_its_constants():
    t, big = Config(tiny=True, nr_cpus=2), Config(nr_cpus=2)
    assert (t.vmalloc_end - t.vmalloc_start) // 4096 == 64
    assert (t.vmap_bbmap_bits, t.vmap_max_alloc, t.lazy_max_pages) == (16, 4, 16)
    assert (big.vmap_bbmap_bits, big.vmap_max_alloc, big.lazy_max_pages) == (1024, 64, 16384)
    assert t.vmalloc_start == big.vmalloc_start and t.tiny_text().count(",") == 3
    w = get("exhaust-32bit")                     # a workload with a range of its own
    assert w.config(tiny=True).vmalloc_size == 64 * 4096 and w.config(tiny=True).nr_cpus == 2


def test_s_is_seed_and_the_header_seed_is_the_quiz_seed(capsys):
    outs = []
    for argv in (["quiz", "-c", "-n", "3"], ["quiz", "-c", "-n", "3", "--seed", "1"],
                 ["quiz", "-c", "-n", "3", "-s", "1"]):
        assert main(argv) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2] and "seed 1" in outs[0]
    assert main(["quiz", "-c", "-n", "3", "-s", "2"]) == 0
    assert capsys.readouterr().out != outs[0]


def test_show_ops_lists_every_op_up_to_the_last_question(capsys):
    assert main(["quiz", "--tiny", "-n", "2", "--ops", "60", "--show-ops"]) == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith("   op ") or x[:3] in ("1. ", "2. ")]
    numbers = [int(x.split("op ")[1].split(":")[0].replace(",", "")) for x in lines]
    assert numbers == list(range(1, numbers[-1] + 1))
