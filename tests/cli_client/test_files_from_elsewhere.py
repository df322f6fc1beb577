"""Scenario files and `run` scripts from elsewhere, against a real `wsctl serve
--profile conveyor` on port 0: a raw e-stop needs --yes, a regex that backtracks
forever is refused when the file is read, bad values are exit 8 naming the
field, reports never carry the URL's password, the terminal sees no control
characters from the file, and a script is read as a bounded regular file."""

from __future__ import annotations

import json
import os

import pytest
from client_helpers import start_server, wsctl

from wsctl.core.exit_table import ExitCode

HEAD = 'format = "wsctl-scenario/1"\n[scenario]\nid = "t"\nprofile = "conveyor"\n'


@pytest.fixture
def conveyor(plant):
    server = start_server("--profile", "conveyor", "--certs", str(plant.certs), "--device", "dev",
                          "--telemetry-scale", "0.05")  # fmt: skip
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=10)


def write(tmp_path, body: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return str(path)


def belt(plant, url) -> str:
    out = wsctl("--json", "send", url, "status", "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["reply"]["state"]


def test_a_raw_estop_in_a_scenario_needs_yes(plant, conveyor, tmp_path):
    sc = write(tmp_path, '[[cases]]\nname = "innocent"\n[[cases.steps]]\nsend = "status"\n[[cases.steps]]\n'
                         'raw = \'{"jsonrpc":"2.0","id":"x1","method":"conveyor.estop","params":{}}\'\n')  # fmt: skip
    out = wsctl("test", sc, "--to", conveyor.url, *plant.op("alice"))
    assert out.returncode == ExitCode.NOT_AUTHORIZED, out.stdout + out.stderr
    assert "estop" in out.stderr and "nothing was sent" in out.stderr
    assert belt(plant, conveyor.url) != "estop"


def test_a_regex_that_backtracks_forever_is_refused_before_connecting(plant, tmp_path):
    sc = write(tmp_path, '[[cases]]\nname = "c"\n[[cases.steps]]\nraw = "aaaa!"\n'
                         'expect = { "" = { regex = "^(a+)+$" } }\n')  # fmt: skip
    out = wsctl("test", sc, "--to", "wss://127.0.0.1:9/", *plant.op("alice"), timeout=30)
    assert out.returncode == ExitCode.INVALID, out.stderr
    assert "cases[1].steps[1].expect.: regex:" in out.stderr and "exponential" in out.stderr


@pytest.mark.parametrize(
    "body, args, field",
    [
        ('[[cases]]\nname = "c"\n[[cases.steps]]\nsend = "status"\nsave = { sp = "/speed" }\n'
         '[[cases.steps]]\nsend = "status"\nexpect = { "/state" = { regex = "${sp}" } }\n', (), "expect./state: regex"),
        ('[vars]\nd = 1979-05-27T07:32:00Z\n[[cases]]\nname = "c"\n[[cases.steps]]\nraw = "${d}x"\n', (), "vars.d"),
        ('[[cases]]\nname = "c"\n[[cases.steps]]\nsend = "set_speed"\nparams = { speed = 1979-05-27 }\n', (),
         "params.speed"),
        ('[[cases]]\nname = "c"\n[[cases.steps]]\nraw = "${d}"\n', ("--var", "d=1979-05-27"), "--var d"),
    ],
    ids=["regex-variable", "date-var", "date-param", "date-option"],
)  # fmt: skip
def test_bad_values_are_exit_8_naming_the_field(plant, tmp_path, body, args, field):
    out = wsctl("test", write(tmp_path, body), "--to", "wss://127.0.0.1:9/", *plant.op("alice"), *args)
    assert out.returncode == ExitCode.INVALID, out.stderr
    assert field in out.stderr and "internal error" not in out.stderr


def test_reports_never_hold_the_urls_password(plant, conveyor, tmp_path):
    sc = write(tmp_path, '[[cases]]\nname = "c"\n[[cases.steps]]\nsend = "status"\n')
    url = conveyor.url.replace("wss://", "wss://cp1:s3cretPW@")
    junit = tmp_path / "t.xml"
    out = wsctl("test", sc, "--to", url, *plant.op("alice"), "--junit", str(junit), "--report", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "s3cretPW" not in junit.read_text() and "s3cretPW" not in out.stdout
    assert json.loads(out.stdout)["target"].startswith("wss://cp1@")


def test_names_and_lines_from_the_file_reach_the_terminal_escaped(plant, conveyor, tmp_path):
    sc = tmp_path / "ctrl.toml"
    sc.write_text(HEAD.replace('"t"', '"ctrl\\u0001id"') + '[[cases]]\nname = "st\\u001b[31matus"\n'
                  '[[cases.steps]]\nsend = "status"\n', encoding="utf-8")  # fmt: skip
    out = wsctl("test", str(sc), "--to", conveyor.url, *plant.op("alice"))
    assert "\x1b" not in out.stdout and "\x01" not in out.stdout, out.stdout
    assert "st\\x1b[31matus" in out.stdout and "ctrl\\x01id" in out.stdout
    out = wsctl("run", conveyor.url, "-", "--profile", "conveyor", *plant.op("alice"), input="status # \x1b[2Kx\n")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\\x1b[2K" in out.stdout


def test_a_run_script_is_a_bounded_regular_file(plant, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = wsctl("run", "wss://127.0.0.1:9/", str(fifo), "--profile", "conveyor", *plant.op("alice"), timeout=20)
    assert out.returncode == ExitCode.INVALID and "not a script" in out.stderr, out.stderr
    big = tmp_path / "big.txt"
    big.write_text("status\n" * (4 * 2**20 // 7 + 1))
    out = wsctl("run", "wss://127.0.0.1:9/", str(big), "--profile", "conveyor", *plant.op("alice"))
    assert out.returncode == ExitCode.INVALID and "too large for a script" in out.stderr, out.stderr
