"""Each generation owns its quiz sentences (issues 22 and 23): every generation x every
quiz kind.  A kind is asked only on the generations its sentences are written for
(quiz.FOR); there, each why uses only its own generation's words, and its numbers are
those of the op's events."""

import re

import pytest

from vmapviz.kernel.generations import GENERATIONS
from vmapviz.run.spec import RunSpec
from vmapviz.sentences import NEUTRAL, Said, borrowed
from vmapviz.teaching import quiz
from vmapviz.workloads import get

# Words that are true of one family only (v2.6.27, the 2008 rewrite, 6.12 and 6.18).
ONLY = {
    "vanilla": ("v2.6.27", "vmlist", "__get_vm_area_node"),
    "rewrite": ("bitmap_find_free_region", "try_purge_vmap_area_lazy", "marks bits",
                "first free run", "ALIGN(va_end + PAGE_SIZE"),
    "modern": ("kworker", "bump pointer", "dirty range", "node_alloc", "schedule_work", "free tree"),
}
FAMILY = {"vanilla": "vanilla", "posted": "rewrite", "merged": "rewrite", "modern": "modern",
          "modern-6.18": "modern"}
WORKLOADS = ("map-touch-unmap", "vmalloc-churn", "fix-size-alloc", "xen-pat")


@pytest.mark.parametrize("generation", list(GENERATIONS))
@pytest.mark.parametrize("kind", list(quiz.KINDS))
def test_every_generation_and_every_quiz_kind(generation, kind):
    asked = []
    for name in WORKLOADS:
        w = get(name)
        try:
            cfg = w.config(variant=generation, nr_cpus=2, tiny=True)
        except Exception:
            continue
        asked += quiz.generate(RunSpec(w, cfg), 4, horizon=500, kinds=[kind])
    if generation not in quiz.FOR[kind]:
        assert asked == [], f"{kind} asked on {generation}, which its sentences are not written for"
        return
    assert asked, f"no {kind} question on {generation} in {WORKLOADS}"
    own = FAMILY[generation]
    for q in asked:
        for family, words in ONLY.items():
            if family != own:
                # "next" lists every generation's answer as a choice: only its why is a claim
                text = q.why if kind == "next" else q.why + q.question
                borrowed = [wd for wd in words if wd in text]
                assert not borrowed, (generation, kind, borrowed, q.why)


def test_the_why_numbers_are_the_events():
    """A lazy free's why states the vmap_lazy_nr the event carries, which the given's
    lazy_nr plus the pages freed gives (by hand: 2 pages a vfree(4096) on --tiny)."""
    w = get("fix-size-alloc")
    for variant in ("merged", "modern", "modern-6.18"):
        for q in quiz.generate(RunSpec.of(w, variant=variant, tiny=True), 6, horizon=300, kinds=["lazy", "flush"]):
            said = [int(x.replace(",", "")) for x in re.findall(r"vmap_lazy_nr (?:=|reached) ([\d,]+)", q.why)]
            assert said == [q.given["lazy_nr"] + 2], (q.why, q.given)


@pytest.mark.parametrize("generation", list(GENERATIONS))
def test_each_kind_asked_on_a_generation_has_that_generations_own_why(generation):
    """Through vmapviz.sentences: for every kind asked on this generation, each text its
    why is made of (quiz.ROLES) is owned by the generation, none borrowed nor neutral."""
    for kind, roles in quiz.ROLES.items():
        for role in roles:
            text = quiz.WHY.pick(role, generation)
            if generation in quiz.FOR[kind]:
                assert generation in text.owners and text.owners != NEUTRAL, (kind, role, generation)
                said = Said()
                said.add(text, ["..."])
                assert borrowed(said, generation) == []
            else:
                assert text.owners == NEUTRAL or generation in text.owners
