"""Lessons: the built-ins play to their end with every stated number reproduced,
and malformed lessons are refused with the file, the line and the problem."""

import pytest

from vmapviz.teaching import lesson
from vmapviz.faces.cli import main


def test_the_lessons_ship_in_order():
    names = [item.name for item in lesson.catalog()]
    assert names == ["1-lazy-flush", "2-vmap-blocks", "3-unmap-aliases", "4-agp-warn", "5-before-after",
                     "6-current-kernel", "7-modern-blocks", "8-rbtree-walks", "9-stranded-blocks",
                     "10-range-flushes"]


@pytest.mark.parametrize("item", lesson.catalog(), ids=lambda item: item.name)
def test_each_lesson_plays_to_its_end_with_its_numbers(item):
    lines = []
    assert lesson.play(item, lines.append) == 0, "\n".join(lines)
    assert sum(1 for line in lines if line[:1].isdigit()) == len(item.steps)


def test_agp_lesson_by_hand():
    """The posted descent's WARN comes at op 6 (agp_add_bridge's vmalloc of 4 pages),
    and the merged kernel runs the same 9 ops with no warning."""
    item = lesson.find("agp-warn")
    player = lesson.Player(item)
    run = player.new_run()
    stops = []
    for i in range(len(item.steps)):
        run, stop = player.do(run, i)
        if stop.question is not None:
            assert stop.op == 5 and stop.question.op == 6 and stop.question.answer == "yes"
            stop = player.reveal(run, stop)
        stops.append(stop)
    assert [s.op for s in stops] == [5, 5, 6, 9, 0, 9]
    assert stops[3].stats.warnings == 1 and stops[-1].stats.warnings == 0
    assert run.config.variant == "merged"


def test_find_by_short_name_and_file():
    assert lesson.find("lazy-flush").title == "Lazy TLB flushing"
    assert lesson.find(str(lesson.LESSONS_DIR / "4-agp-warn.toml")).name == "4-agp-warn"
    with pytest.raises(lesson.LessonError, match="no lesson 'nope'"):
        lesson.find("nope")


GOOD = 'title = "t"\nworkload = "agp-bug"\n\n[config]\nvariant = "posted"\n\n[[step]]\nrun = 2\n\n'


@pytest.mark.parametrize("text,line,problem", [
    ('title = "t"\nworkload = agp\n', 2, "Invalid value"),
    ('title = "t"\nworkload = "no-such"\n[[step]]\nrun = 1\n', 2, "unknown workload"),
    ('workload = "agp-bug"\n[[step]]\nrun = 1\n', 1, "needs a title"),
    (GOOD + '[[step]]\nnote = "fine"\nuntil = "flsh"\n', 12, "until takes one of purge, flush, block, warn"),
    (GOOD + '[[step]]\nrun = 3\nquiz = "fails"\n', 12, "a step does one thing"),
    (GOOD + '[[step]]\nrun = -1\n', 11, "run takes an op number"),
    (GOOD + '[[step]]\nhighlight = "mapp"\n', 11, "highlight takes a panel"),
    (GOOD + '[[step]]\nhighlight = {start = 10, end = 5}\n', 11, "start < end"),
    (GOOD + '[[step]]\nrun = 3\nexpect = {flushes = 1}\n', 12, "unknown number 'flushes'"),
    (GOOD + '[[step]]\nrestart = {variant = "newest"}\n', 11, "bad config: variant must be one of"),
    (GOOD + '[[step]]\nfoo = 1\n', 11, "unknown step key 'foo'"),
    (GOOD + '[[step]]\nrun = 3\nexpect = {result = "0x10"}\n', 12, "result must be an integer (an address)"),
    ('title = "t"\nworkload = "agp-bug"\n[config]\ntiny = 1\n[[step]]\nrun = 1\n', 4, "bad config: tiny"),
    ('title = "t"\nworkload = "agp-bug"\n[config]\nnr_cpus = 0\n[[step]]\nrun = 1\n', 4, "bad config: nr_cpus"),
    ('title = "t"\nworkload = "agp-bug"\n', 1, "no steps"),
])
def test_a_malformed_lesson_is_refused_with_file_line_and_problem(tmp_path, capsys, text, line, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(lesson.LessonError) as e:
        lesson.load(path)
    assert str(e.value).startswith(f"{path}:{line}: ") and problem in str(e.value)
    assert main(["lesson", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"bad.toml:{line}:" in err and "Traceback" not in err


def test_cli_lists_and_plays(capsys):
    assert main(["lesson", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("lazy-flush") and len(out.splitlines()) == 10
    assert main(["lesson", "before-after"]) == 0
    out = capsys.readouterr().out
    assert "1,000 TLB flushes, 1,000 IPIs" in out and "MISMATCH" not in out


def test_a_lesson_whose_numbers_are_wrong_exits_1(tmp_path, capsys):
    path = tmp_path / "wrong.toml"
    path.write_text(GOOD.replace("run = 2", "run = 2\nexpect = {live_areas = 7}"))
    assert main(["lesson", str(path)]) == 1
    assert "MISMATCH: live_areas is 2, the lesson says 7" in capsys.readouterr().out


def test_expect_checks_what_the_op_returned(tmp_path, capsys):
    """agp-bug on posted: op 1 is vmalloc(4096), 2 pages with its guard, at VMALLOC_START
    of i386 (0xf8800000); op 2 comes after it, at 0xf8802000 (posted leaves no page
    between areas when the walk does not move: the tree below addr is empty)."""
    path = tmp_path / "result.toml"
    path.write_text(GOOD.replace("run = 2", "run = 1\nexpect = {result = 0xf8800000}"))
    assert main(["lesson", str(path)]) == 0
    path.write_text(GOOD.replace("run = 2", "run = 1\nexpect = {result = 0xf8801000}"))
    assert main(["lesson", str(path)]) == 1
    assert "the last op returned 0xf8800000, the lesson says 0xf8801000" in capsys.readouterr().out


def test_config_takes_tiny_and_config_nr_cpus(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text('title = "t"\nworkload = "fix-size-alloc"\n[config]\nvariant = "modern"\ntiny = true\n'
                    'config_nr_cpus = 16\n[[step]]\nrun = 1\nexpect = {lazy_max_pages = 16}\n')
    item = lesson.load(path)
    cfg = item.spec().config
    assert cfg.tiny and cfg.config_nr_cpus == 16 and cfg.nr_cpus == 2
    assert main(["lesson", str(path)]) == 0


def test_current_kernel_lesson_by_hand():
    """--tiny on 6.12: each vmalloc(4096) is 2 pages (guard), each vfree adds 2 to
    vmap_lazy_nr, so the 9th vfree (18 > lazy_max_pages 16) queues the kworker; the 9th
    area starts 8 x 8 KiB above VMALLOC_START, and cpu1 gets it back from its node's pool."""
    item = lesson.find("current-kernel")
    player, run, stops = lesson.Player(item), None, []
    run = player.new_run()
    for i in range(len(item.steps)):
        run, stop = player.do(run, i)
        if stop.question is not None:
            assert stop.question.answer == 4          # 2 + 2 pages
            stop = player.reveal(run, stop)
        stops.append(stop)
    assert stops[1].stats.lazy_pages == 2 and stops[3].stats.purges == 1
    start = 0xFFFFC90000000000                       # 6.12's VMALLOC_START on x86_64
    assert lesson.last_result(run) == start + 0x0A000                 # cpu0: node 0's head
    assert item.steps[5].expect["result"] == start + 8 * 0x2000
