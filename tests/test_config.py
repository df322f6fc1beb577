"""Option defaults from config files and WSCTL_* variables, and what they may not set."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_in_process, run_subprocess

from wsctl.core.exit_table import ExitCode

PASS = "a-long-enough-passphrase"


def wsctl(*args, environ=None):
    out = run_in_process(*args, environ={"WSCTL_PASSWORD": PASS, "HOME": "/nonexistent", **(environ or {})})
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_project_file_sets_defaults_for_verbs_and_sub_verbs(project):
    (project / "wsctl.toml").write_text('[certs]\ndir = "pki"\n[certs.issue.device]\ndays = 20\n')
    assert wsctl("certs", "init")[0] == 0
    assert (project / "pki" / "ca" / "root.crt").is_file()
    code, out, err = wsctl("--json", "certs", "issue", "device", "d1", "--ip", "127.0.0.1", "--no-password")
    assert code == 0, err
    assert lifetime_days(json.loads(wsctl("--json", "certs", "show", "d1")[1])) == 20


def lifetime_days(shown: dict) -> int:
    from datetime import datetime

    start, end = (datetime.fromisoformat(shown[k].replace("Z", "+00:00")) for k in ("not_before", "not_after"))
    return round((end - start).total_seconds() / 86400)


def test_environment_beats_file_for_a_sub_sub_verb(project, monkeypatch):
    # the file is read before the verb runs; the verb it loads for checking must still get
    # its full variable name (WSCTL_CERTS_ISSUE_DEVICE_DAYS, once WSCTL_ISSUE_DEVICE_DAYS)
    (project / "wsctl.toml").write_text("[certs.issue.device]\ndays = 365\n")
    assert wsctl("certs", "init")[0] == 0
    monkeypatch.setenv("WSCTL_CERTS_ISSUE_DEVICE_DAYS", "90")
    assert wsctl("certs", "issue", "device", "d2", "--ip", "127.0.0.1", "--no-password")[0] == 0
    assert lifetime_days(json.loads(wsctl("--json", "certs", "show", "d2")[1])) == 90


def test_environment_beats_file_and_command_line_beats_both(project, monkeypatch):
    (project / "wsctl.toml").write_text('[certs]\ndir = "from-file"\n')
    monkeypatch.setenv("WSCTL_CERTS_DIR", "from-env")
    assert wsctl("certs", "init")[0] == 0
    assert (project / "from-env" / "ca").is_dir() and not (project / "from-file").exists()
    assert wsctl("certs", "--dir", "from-cli", "init")[0] == 0
    assert (project / "from-cli" / "ca").is_dir()


def test_a_typo_in_the_file_is_an_error_naming_the_key(project):
    (project / "wsctl.toml").write_text("[send]\ntimout = 3\n")
    code, _, err = wsctl("exit-codes")
    assert code == ExitCode.INVALID
    assert "send.timout: no such option of `wsctl send`" in err and "timeout" in err


@pytest.mark.parametrize(
    "args, shows", [(["--help"], "Usage: wsctl"), (["send", "-h"], "Usage: wsctl send"), (["--version"], "0.1.0")]
)
def test_a_broken_file_does_not_hide_help_or_version(project, args, shows):
    # a process: click prints the help on the real stdout
    (project / "wsctl.toml").write_text("[send]\ntimout = 3\n")
    out = run_subprocess(*args, cwd=project, env={"HOME": "/nonexistent"})
    assert out.returncode == 0 and shows in out.stdout
    assert out.stderr.startswith("warning: config wsctl.toml: send.timout: no such option")
    out = run_subprocess("--json", *args, cwd=project, env={"HOME": "/nonexistent"})
    assert out.returncode == 0 and shows in out.stdout
    [warning] = [json.loads(line) for line in out.stderr.splitlines()]
    assert warning["level"] == "warning" and "send.timout" in warning["message"]
    # without the help, the file is still an error
    assert wsctl("exit-codes")[0] == ExitCode.INVALID


def test_json_from_the_file_makes_an_unknown_verb_error_json(project):
    (project / "wsctl.toml").write_text("json = true\n")
    for verb, message in (("nosuchverb", "No such command 'nosuchverb'."), ("sned", "Did you mean 'send'?")):
        code, out, err = wsctl(verb)
        assert code == ExitCode.USAGE and out == ""
        error = json.loads(err)
        assert error["error"] == "usage" and message in error["message"] and error["exit_code"] == 2


@pytest.mark.parametrize("key", ["yes", "insecure", "trust-new", "allow-plaintext"])
def test_safety_weakening_options_are_refused_in_files(project, key):
    (project / "wsctl.toml").write_text(f"[send]\n{key} = true\n")
    code, _, err = wsctl("exit-codes")
    assert code == ExitCode.INVALID and "only on the command line" in err


def test_safety_weakening_options_are_ignored_in_the_environment(project, monkeypatch):
    monkeypatch.setenv("WSCTL_SEND_YES", "1")
    code, _, err = wsctl("send", "wss://127.0.0.1:1/", "estop", "--profile", "conveyor", "--ca", "/dev/null")
    assert code == ExitCode.NOT_AUTHORIZED and "nothing was sent" in err


def test_verbose_traces_where_defaults_came_from_without_secrets(project):
    (project / "wsctl.toml").write_text("[send]\ntimeout = 3\n")
    code, _, err = wsctl("-v", "exit-codes")
    assert code == 0
    assert "config wsctl.toml: send.timeout = 3" in err
    assert "environment: WSCTL_PASSWORD is set" in err and PASS not in err


def test_user_config_and_explicit_config_file(project, tmp_path_factory):
    home = tmp_path_factory.mktemp("xdg")
    (home / "wsctl").mkdir()
    (home / "wsctl" / "config.toml").write_text('[certs]\ndir = "user-pki"\n')
    assert wsctl("certs", "init", environ={"XDG_CONFIG_HOME": str(home)})[0] == 0
    assert (project / "user-pki" / "ca").is_dir()
    code, _, err = wsctl("exit-codes", environ={"WSCTL_CONFIG": str(project / "missing.toml")})
    assert code == ExitCode.INVALID and "missing.toml" in err


@pytest.mark.parametrize(
    "line, says",
    [
        ("[send]\ntimeout = [1, 2]", "send.timeout: expected a single value"),
        ("[send]\nexpect = 1e400", "send.expect:"),
        ("[send]\ncerts = { a = 1 }", "send.certs: expected a single value"),
        ("json = 3", "json: expected true or false"),
        ('[send]\ntimeout = "abc"', "send.timeout:"),
        ('[send]\nheader = "X-A: b"', "send.header: expected a list"),
        ("[send]\ntimeout = inf", "send.timeout: expected a finite number"),
        ("[send]\ntimeout = nan", "send.timeout: expected a finite number"),
    ],
)
def test_a_value_of_the_wrong_kind_is_exit_8_naming_the_file_and_key(project, line, says):
    (project / "wsctl.toml").write_text(line + "\n")
    code, _, err = wsctl("send", "wss://127.0.0.1:9/", "--raw", "x")
    assert code == ExitCode.INVALID, err
    assert f"config wsctl.toml: {says}" in err and "internal error" not in err


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_seconds_on_the_command_line_are_finite(project, value):
    code, _, err = wsctl("replay", "r.jsonl", "--dry-run", "--reply-timeout", value)
    assert code == ExitCode.USAGE and "finite" in err, err
