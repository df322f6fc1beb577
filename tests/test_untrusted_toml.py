"""TOML from elsewhere at every place wsctl reads it (profiles, inventories,
scenarios, --var, config files, `profile list`): nested thousands deep or
holding a 5000-digit integer, it is exit 8 with one line naming the file,
never an internal error (RecursionError, ValueError) that reaches the top."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_in_process

from wsctl.cli.test_verb import _variables

REPO = Path(__file__).resolve().parents[1]
DEEP = "[" * 5000 + "]" * 5000
HUGE = "9" * 5000
URL = "wss://127.0.0.1:9/"


def run(tmp_path, *argv: str):
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}
    return run_in_process(*argv, cwd=tmp_path, environ=environ)


def one_error(out) -> str:
    assert out.returncode == 8, (out.stdout, out.stderr)
    assert "internal error" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("wsctl: error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


@pytest.fixture(params=[DEEP, HUGE], ids=["deep", "huge"])
def value(request):
    return request.param


def test_profile_validate_and_send_profile_file(tmp_path, value):
    (tmp_path / "p.toml").write_text(f'format = "wsctl-profile/1"\nx = {value}\n')
    for argv in (["profile", "validate", "p.toml"], ["send", URL, "ping", "--profile", "p.toml"]):
        assert "p.toml: not valid TOML: " in one_error(run(tmp_path, *argv))


def test_inventory(tmp_path, value):
    (tmp_path / "inv.toml").write_text(f'[devices.d1]\nurl = "{URL}"\nx = {value}\n')
    assert "inv.toml: not valid TOML: " in one_error(
        run(tmp_path, "send", "d1", "--raw", "x", "--inventory", "inv.toml")
    )


def test_scenario_file(tmp_path, value):
    (tmp_path / "s.toml").write_text(f'format = "wsctl-scenario/1"\nx = {value}\n')
    assert "s.toml: not valid TOML: " in one_error(run(tmp_path, "test", "s.toml", "--to", URL))


def test_var_past_the_parser_limits_is_exit_8_and_plain_text_stays_text(tmp_path, value):
    scenario = str(REPO / "scenarios" / "conveyor.toml")
    line = one_error(run(tmp_path, "test", scenario, "--to", URL, "--var", f"n={value}"))
    assert "--var n: not valid TOML: " in line
    assert _variables(("a=42", "b=hello", 'c="x"')) == {"a": 42, "b": "hello", "c": "x"}


def test_config_file(tmp_path, value):
    (tmp_path / "wsctl.toml").write_text(f"[send]\ntimeout = {value}\n")
    assert "config wsctl.toml: not valid TOML: " in one_error(run(tmp_path, "exit-codes"))
    (tmp_path / "wsctl.toml").write_bytes(b"[send]\n\xff = 1\n")
    assert "config wsctl.toml: not UTF-8 text" in one_error(run(tmp_path, "exit-codes"))


def test_profile_list_shows_the_file_as_invalid(tmp_path, value):
    profiles = tmp_path / "config" / "wsctl" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "bad.toml").write_text(f'format = "wsctl-profile/1"\nx = {value}\n')
    out = run(tmp_path, "profile", "list")
    assert out.returncode == 0 and "internal error" not in out.stderr, out.stderr
    assert f"INVALID: {profiles / 'bad.toml'}: not valid TOML: " in out.stdout
