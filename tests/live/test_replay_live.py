"""replay-live on recordings whose lazy counts and purge points are worked out by hand.

tests/data/live/hand-purge.jsonl, 1 CPU, so lazy_max_pages() = fls(1) * 32 MiB / 4 KiB
= 8,192 pages and one vmap node (no pools).  Three 16 KiB stacks A1, A2, A3 (20 KiB
with the guard page = 5 pages, aligned to 16 KiB, 32 KiB apart) are allocated, then
freed: the kernel reports vmap_lazy_nr 8,190, 8,195, 8,200, so 8,185 pages were lazy
before the recording.  The simulated free of A2 passes 8,192 and its kworker purges at
once, after free #2: 3 areas (the 8,185 pages as one area, A1, A2).  The real worker
ran after free #3 and purged 4.  Then A4 is allocated where A3 was (the real pool:
purged A3), and its free counts 5 pages."""

import json
import os

from vmapviz.faces.cli import main
from vmapviz.live import recording, replay

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "live")


def _result(name: str) -> dict:
    return replay.replay(recording.load(os.path.join(DATA, name)), "modern").as_json()


def test_lazy_counts_and_purge_points_worked_out_by_hand():
    r = _result("hand-purge.jsonl")
    assert r["lazy_max_pages"] == {"sim": 8192, "real": [8192], "agree": True}
    # frees #1 8190, #2 8195 agree; #3: real 8200 (the worker has not run), simulated
    # 5 (purged after #2: 0, + A3's 5); #4: both 0 + 5 after the purge
    assert r["lazy_nr"] == {"agree": 3, "total": 4}
    mism = [(m["what"], m["event"], m["class"], m["real"], m["sim"]) for m in r["mismatches"]]
    assert ("lazy", 6, "timing", 8200, 5) in mism
    # the real purge came after free #3, the simulated one after free #2
    assert r["purges"] == {"real": [[3, 4]], "sim": [[2, 3]]}
    assert r["purge_points"] == {"agree": 0, "total": 1}
    assert ("purge", 7, "timing", 3, 2) in mism
    # 3 purged at once + A3 purged where the real worker ran = the real 4
    assert r["purge_counts"] == {"agree": 1, "total": 1}
    # A2 - A1 = A3 - A2 = 32 KiB in both; A4 reuses A3 (step 0) in the kernel's pool
    assert r["placement_relative"] == {"agree": 2, "total": 3}
    assert [m for m in mism if m[0] == "placement"][0][:4] == ("placement", 8, "pools", 0)
    assert set(r["mismatch_classes"]) == {"timing", "pools"}


def test_the_cli_prints_the_same_figures_as_json(capsys):
    # a recording of a 6.18 kernel is replayed on modern-6.18 unless told otherwise; on
    # one node (1 CPU) no pool exists and the two generations agree
    assert main(["replay-live", os.path.join(DATA, "hand-purge.jsonl"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["lazy_nr"] == {"agree": 3, "total": 4} and got["variant"] == "modern-6.18"


def test_the_default_generation_follows_the_recorded_kernel():
    assert replay.default_variant("6.18.44-fc-v1300") == "modern-6.18"
    assert replay.default_variant("6.19.0") == "modern-6.18"
    assert replay.default_variant("6.12.33") == "modern"


def test_the_recording_of_this_6_18_machine():
    # GIVEN 5,503 events recorded here (record --live --stir 3000): vmap_lazy_nr from
    # 5 to 16,564, one kworker purge of 3,314 areas after free #1,402
    r = _result("recording-6.18.jsonl")
    assert r["lazy_max_pages"]["agree"]
    assert r["purges"]["real"] == [[1402, 3314]]
    # the simulated worker purges right after the free that passes 16,384: that free's
    # recorded count is the first above it
    rec = recording.load(os.path.join(DATA, "recording-6.18.jsonl"))
    frees = [e for e in rec.events if type(e).__name__ == "FreeVmapAreaNoflush"]
    first_over = next(i for i, e in enumerate(frees, 1) if e.nr_lazy > 16384)
    assert r["purges"]["sim"][0][0] == first_over
    # and, with the late frees the real worker also found, the same number of areas
    assert r["purge_counts"] == {"agree": 1, "total": 1}
    # the absolute mode needs real addresses: this machine hashes them (kptr_restrict=0)
    assert r["placement_absolute"]["total"] == 0 and "hashed" in r["placement_absolute"]["note"]


def test_the_absolute_mode_from_a_real_layout_worked_out_by_hand():
    # GIVEN a snapshot with real addresses: a busy area [V0, V0+0x5000) and an unpurged
    # one [V0+0x5000, V0+0xa000); 1 CPU, so no pools
    r = _result("hand-layout.jsonl")
    # THEN the simulator, rebuilt from it, puts the first 20 KiB stack (align 16 KiB)
    # at the first 16 KiB boundary past the lazy area, V0+0xc000, the next at
    # V0+0x14000 (0x11000 aligned up): both as recorded; the third was recorded at
    # V0+0x100000, where the simulator (V0+0x1c000) disagrees
    assert r["placement_absolute"]["agree"] == 2 and r["placement_absolute"]["total"] == 3
    assert r["placement_relative"] == {"agree": 1, "total": 2}
    wrong = [m for m in r["mismatches"] if m["what"] == "absolute"]
    assert [(m["event"], m["real"], m["sim"]) for m in wrong] == [
        (3, 0xFFFFC90000100000, 0xFFFFC9000001C000)]
