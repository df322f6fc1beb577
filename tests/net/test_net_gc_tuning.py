"""`wsctl.net.gc_tuning.tune`: what `wsctl serve` and `wsctl hub` do to the
collector after start-up (docs/performance.md, "Garbage collector"), checked
in a fresh interpreter so this test process keeps Python's settings."""

from __future__ import annotations

import json
import subprocess
import sys

from wsctl.net.gc_tuning import YOUNG_THRESHOLD


def test_tune_freezes_start_up_objects_and_raises_the_young_threshold():
    code = (
        "import gc, json; from wsctl.net import gc_tuning; before = gc.get_threshold(); gc_tuning.tune(); "
        "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after, frozen = json.loads(out.stdout)
    assert after == [YOUNG_THRESHOLD, before[1], before[2]]
    assert frozen > 1000
