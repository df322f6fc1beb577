"""The CLI skeleton: help, version, exit codes, interrupt handling."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

from cli_runner import run_subprocess

from wsctl.core.exit_table import DESCRIPTIONS, ExitCode


def wsctl(*args, **kw):
    return run_subprocess(*args, **kw)


def test_help_lists_every_registered_verb():
    from wsctl.cli.main import COMMANDS

    out = wsctl("--help")
    assert out.returncode == 0
    # the verbs are the first words of the "Commands:" rows (a verb's name inside
    # another verb's summary, like "run" in "Run the whole tool", does not count)
    section = out.stdout.split("\nCommands:\n", 1)[1].split("EXAMPLES", 1)[0]
    listed = re.findall(r"^  (\S+)  +\S", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(COMMANDS), listed
    assert "EXAMPLES" in out.stdout


def test_version():
    out = wsctl("--version")
    assert out.returncode == 0 and "wsctl" in out.stdout


def test_unknown_command_is_a_usage_error():
    out = wsctl("no-such-verb")
    assert out.returncode == ExitCode.USAGE
    assert "No such command" in out.stderr


def test_exit_codes_table_in_json_is_complete():
    out = wsctl("--json", "exit-codes")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {row["code"] for row in rows} == {int(c) for c in ExitCode}
    assert set(DESCRIPTIONS) == set(ExitCode)


def test_classify_maps_wsctl_errors_and_groups():
    from wsctl.cli.support.errors import classify
    from wsctl.core.errors import Timeout, TLSError

    assert classify(TLSError("unknown CA"))[0] == ExitCode.TLS
    group = BaseExceptionGroup("x", [ValueError("noise"), Timeout("no reply within 5 s")])
    assert classify(group)[:2] == (ExitCode.TIMEOUT, None)
    assert classify(BaseExceptionGroup("x", [KeyboardInterrupt()]))[0] == ExitCode.INTERRUPTED
    assert classify(FileNotFoundError(2, "nope", "/x"))[2] == "no such file: /x"


def _start_sleeper(tmp_path):
    # a trio command run through the real runtime, the way every async verb runs
    script = tmp_path / "sleeper.py"
    script.write_text(
        textwrap.dedent("""
        import sys, trio
        from wsctl.cli.support.runtime import run_async
        from wsctl.cli.support.errors import report
        async def work():
            try:
                print("ready", flush=True)
                await trio.sleep(30)
            finally:
                print("cleanup ran", flush=True)
        try:
            run_async(work)
        except BaseException as exc:
            sys.exit(report(exc, sys.stderr, as_json=False))
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigint_exits_130_after_cleanup_without_traceback(tmp_path):
    proc = _start_sleeper(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "cleanup ran" in out
    assert "Traceback" not in err


def test_sigterm_exits_143_after_cleanup(tmp_path):
    proc = _start_sleeper(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert "cleanup ran" in out
    assert "Traceback" not in err


def test_exit_code_doc_matches_the_table():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "exit-codes.md").read_text()
    for code, text in DESCRIPTIONS.items():
        assert f"| {int(code)} | `{code.name.lower()}` | {text} |" in doc


def test_help_summaries_match_each_commands_own_help():
    import importlib

    from wsctl.cli.main import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS), "every verb needs its line in SUMMARIES"
    for verb, target in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert SUMMARIES[verb] == command.get_short_help_str(limit=100), verb


def test_interrupted_kinds_are_the_exit_code_names():
    import signal as sig

    from wsctl.core.errors import Interrupted

    assert (Interrupted(sig.SIGTERM).kind, int(Interrupted(sig.SIGTERM).exit_code)) == ("terminated", 143)
    assert (Interrupted(sig.SIGINT).kind, int(Interrupted(sig.SIGINT).exit_code)) == ("interrupted", 130)


def test_shell_completion_completes_verbs_and_subverbs():
    env = {**os.environ, "_WSCTL_COMPLETE": "bash_complete", "COMP_WORDS": "wsctl certs is", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "wsctl"], capture_output=True, text=True, timeout=60, env=env)
    assert "plain,issue" in out.stdout.splitlines()
    env.update(COMP_WORDS="wsctl wa", COMP_CWORD="1")
    out = subprocess.run([sys.executable, "-m", "wsctl"], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.splitlines() == ["plain,watch"]


def test_a_sub_groups_verbs_are_described_by_themselves_not_by_top_level_namesakes():
    # `wsctl hub certs` is not `wsctl certs`: the top level's summaries are its own
    from cli_runner import run_subprocess

    shown = run_subprocess("hub", "--help").stdout
    line = next(line for line in shown.splitlines() if line.strip().startswith("certs"))
    assert "renewed over OCPP" in line and "Provision the plant PKI" not in shown


def _collector_at_exit(*argv: str) -> list[str]:
    probe = (
        "import atexit, gc, sys; from wsctl.cli import main as m; "
        "m.run(['--version']); print('after run', gc.get_freeze_count() > 0, gc.get_threshold()[0]); "
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0, gc.get_threshold()[0])); "
        f"m.main({list(argv)!r})"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    return out.stdout.splitlines()


def test_the_process_entry_sets_the_collector_for_start_up_and_exit_and_run_does_not():
    from wsctl.cli.main import STARTUP_YOUNG_THRESHOLD
    from wsctl.net.gc_tuning import YOUNG_THRESHOLD

    lines = _collector_at_exit("--version")  # no event loop: the start-up threshold to the end
    assert "after run False 700" in lines and f"at exit True {STARTUP_YOUNG_THRESHOLD}" in lines
    assert sum(1 for line in lines if line.startswith("wsctl, version")) == 2  # both ran
    # a command with an event loop gets the servers' and fleets' threshold when the loop starts
    lines = _collector_at_exit("send", "wss://127.0.0.1:9/", "--insecure", "--raw", "x", "--connect-timeout", "5")
    assert f"at exit True {YOUNG_THRESHOLD}" in lines
