"""The quiz: each answer is what the simulator does at that op, checked here against a
separate run through the kernel's counters and results (not the quiz's events), and by
hand on small cases."""

import json

import pytest

from vmapviz.teaching import quiz
from vmapviz.run.spec import RunSpec
from vmapviz.faces.cli import main
from vmapviz.run.driver import Run
from vmapviz.workloads import get

PAGE = 4096


def replay_to(workload, config, op):
    """A plain run stopped just before op `op`."""
    run = Run(workload, config)
    while run.kernel.op < op - 1:
        run.step()
    return run


@pytest.mark.parametrize("name,seed", [("map-touch-unmap", 1), ("map-touch-unmap", 7), ("xen-pat", 3),
                                       ("vmalloc-churn", 2), ("exhaust-32bit", 1), ("agp-bug", 1),
                                       ("xfs-dir", 1)])
def test_answers_are_what_the_simulator_does_at_that_op(name, seed):
    w = get(name)
    cfg = w.config(seed=seed)
    questions = quiz.generate(RunSpec(w, cfg), 6, horizon=25_000)
    assert questions == quiz.generate(RunSpec(w, cfg), 6, horizon=25_000)      # same seed, same quiz
    assert len({q.op for q in questions}) == len(questions)
    for q in questions:
        run = replay_to(w, cfg, q.op)
        op = run.peek()
        s0 = run.kernel.stats_view()
        blocks = {b.id: b for b in run.kernel.block_views()}
        result = run.calls[op.call](*op.args, cpu=op.cpu)
        s1 = run.kernel.stats_view()
        assert run.kernel.op == q.op and f"{op.call}(" in q.question
        if q.kind == "address":
            assert q.answer == ("NULL" if result is None else hex(result))
        elif q.kind == "bits":
            words = q.answer.replace("bits", "").replace("bit", "").replace("-", " ").split()
            start, first, last = int(words[0], 16), int(words[1]), int(words[-1])
            nbits = 1 << (op.args[0] - 1).bit_length()      # the order vb_alloc rounds to
            assert last - first + 1 == nbits
            if cfg.variant != "modern":
                assert first % nbits == 0                    # 6.12 takes the bump pointer
            assert result == start + first * PAGE
            old = {b.start: b for b in blocks.values()}
            if start in old:                                 # those bits were free before
                assert not old[start].alloc_map >> first & ((1 << nbits) - 1)
        elif q.kind == "flush":
            assert q.answer == ("yes" if s1.tlb_flushes > s0.tlb_flushes else "no")
        elif q.kind == "ipis":
            assert s1.tlb_flushes > s0.tlb_flushes
            assert q.answer == s1.ipis - s0.ipis == (s1.tlb_flushes - s0.tlb_flushes) * (cfg.nr_cpus - 1)
        elif q.kind == "fails":
            assert q.answer == ("yes" if result is None else "no")
        assert q.why


def test_a_quiz_spreads_over_kinds_and_outcomes():
    w = get("map-touch-unmap")
    questions = quiz.generate(RunSpec.of(w), 8)
    kinds = {q.kind for q in questions}
    assert {"address", "bits", "flush"} <= kinds
    assert {q.answer for q in questions if q.kind == "flush"} == {"yes", "no"} or "ipis" in kinds
    assert quiz.generate(RunSpec.of(w, seed=2), 8) != questions


def test_first_vm_map_ram_by_hand():
    """1 CPU, 64-bit: the first vm_map_ram(4) makes block #1 at VMALLOC_START (aligned to
    a block: 1024 pages = 4 MiB) and takes bits 0-3."""
    w = get("map-touch-unmap")
    cfg = w.config(nr_cpus=1)
    run = Run(w, cfg)
    op = run.peek()
    before = quiz.Before.of(run.kernel, op)
    events = run.step()
    q = quiz.ask(1, op, "bits", before, events)
    assert q.answer == "0xffffc20000000000 bits 0-3"
    assert "free list: empty" in q.question and "every area: none" in q.question
    a = quiz.ask(1, op, "address", before, events)
    assert a.answer == "0xffffc20000000000"
    assert quiz.check(a, "ffffc20000000000") and quiz.check(a, "0xFFFFC20000000000")
    assert not quiz.check(a, "0xffffc20000001000")
    assert quiz.check(q, "0xffffc20000000000 bits 0-3") and quiz.check(q, "ffffc20000000000 0 3")
    assert not quiz.check(q, "0xffffc20000000000 bits 4-7")


def test_check_reads_yes_no_and_numbers():
    yes = quiz.Question(5, "flush", "?", "yes", "")
    assert quiz.check(yes, "y") and quiz.check(yes, " Yes ") and not quiz.check(yes, "no")
    ipis = quiz.Question(5, "ipis", "?", 3, "")
    assert quiz.check(ipis, "3") and quiz.check(ipis, "0x3") and not quiz.check(ipis, "three")
    null = quiz.Question(5, "address", "?", "NULL", "")
    assert quiz.check(null, "NULL") and quiz.check(null, "0")


def test_cli_prints_questions_then_answers_with_c(capsys):
    assert main(["quiz", "agp-bug", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "kernel posted (2008-08-18), 1 CPU, 32-bit" in out and "answer:" not in out
    assert "1. op " in out and "3. op " in out
    assert main(["quiz", "agp-bug", "-n", "3", "-c"]) == 0
    assert out.count("op ") <= capsys.readouterr().out.count("op ")
    assert main(["quiz", "agp-bug", "-n", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [sorted(d) for d in data] == [["answer", "given", "kind", "op", "question", "why"]] * 3


def test_cli_refuses_a_bad_workload(capsys):
    assert main(["quiz", "no-such"]) == 2
    assert "unknown workload" in capsys.readouterr().err
