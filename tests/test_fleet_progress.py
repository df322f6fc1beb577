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
