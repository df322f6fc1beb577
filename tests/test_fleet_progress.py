"""Fleet progress: on a terminal's stderr only when results go elsewhere, never with --json."""

import io

from wsctl.cli.support.env import Environment
from wsctl.cli.support.fleet import Outcome, Progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _run(env, n=3):
    progress = Progress(env, n)
    for i in range(n):
        progress(Outcome(f"d{i}", ok=i != 1, elapsed=0.1))
    return env.stderr.getvalue()


def test_progress_counts_and_failures_when_results_go_to_a_file():
    env = Environment(stdout=io.StringIO(), stderr=_Tty())
    text = _run(env)
    assert "[3/3]  1 failed" in text and text.endswith("\n")


def test_no_progress_with_json_or_without_a_terminal_or_when_stdout_is_the_terminal():
    assert _run(Environment(stdout=io.StringIO(), stderr=_Tty(), json=True)) == ""
    assert _run(Environment(stdout=io.StringIO(), stderr=io.StringIO())) == ""
    assert _run(Environment(stdout=_Tty(), stderr=_Tty())) == ""


def test_a_fleet_runs_with_the_servers_collector_settings_and_restores_them():
    # per-connection objects must die young instead of being walked by every
    # older collection (docs/performance.md, fan-out); afterwards the process
    # has Python's settings again
    import gc

    import trio

    from wsctl.cli.support.fleet import fan_out
    from wsctl.core.inventory import DeviceEntry
    from wsctl.net.gc_tuning import YOUNG_THRESHOLD

    before = gc.get_threshold()
    seen = []

    async def job(entry):
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return entry.name

    entries = [DeviceEntry(name=f"d{i}", url=f"wss://d{i}/") for i in range(3)]
    outcomes = trio.run(lambda: fan_out(entries, job, parallel=2, on_done=lambda o: None))
    assert sorted(o.value for o in outcomes) == ["d0", "d1", "d2"] and all(o.ok for o in outcomes)
    assert all(threshold == YOUNG_THRESHOLD and frozen > 0 for threshold, frozen in seen), seen
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
