"""`wsctl profile list|show|validate|export`, run in-process with a private
working directory and config dir."""

from __future__ import annotations

import json
import subprocess
import sys

from profile_helpers import MINIMAL, SHIPPED, run_cli

from wsctl.core.profile.loader import parse_profile


def test_group_help_ends_with_examples():
    # click writes help to the process's stdout, so run a real process
    proc = subprocess.run(
        [sys.executable, "-m", "wsctl", "profile", "--help"], capture_output=True, text=True, timeout=60
    )
    code, out = proc.returncode, proc.stdout
    assert code == 0
    assert out.rstrip().splitlines()[-1].strip().startswith("wsctl --json profile list")
    assert "EXAMPLES" in out and all(verb in out for verb in ("list", "show", "validate", "export"))


def test_list_human_and_json(sandbox):
    cwd, environ = sandbox
    (cwd / "profiles" / "line-3.toml").write_text(MINIMAL.format(id="line-3", title="Line 3 sorter"))
    (cwd / "profiles" / "broken.toml").write_text("not = = toml")
    code, out, _ = run_cli(["profile", "list"], cwd=cwd, environ=environ)
    assert code == 0
    assert "Line 3 sorter" in out and "project" in out and "INVALID: " in out
    code, out, _ = run_cli(["--json", "profile", "list"], cwd=cwd, environ=environ)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["name"], r["origin"]) for r in rows] == [("broken", "project"), ("line-3", "project")] + [
        (n, "shipped") for n in SHIPPED
    ]
    assert rows[0]["valid"] is False and "not valid TOML" in rows[0]["error"]
    assert {"name", "id", "title", "origin", "path"} <= set(rows[1])


def test_list_reads_the_summary_and_validate_checks_the_rest(sandbox):
    # list reads id/title/version/commands only; a deeper error is found where the profile is used
    cwd, environ = sandbox
    deep = MINIMAL.format(id="deep", title="Deep error") + (
        '[commands.ping.params.speed]\ntype = "integer"\nmaximum = 10\ndefault = 11\n'
    )
    (cwd / "profiles" / "deep.toml").write_text(deep)
    (cwd / "profiles" / "other.toml").write_text('format = "something-else/2"\n[profile]\nid = "other"\n')
    (cwd / "profiles" / "noid.toml").write_text('format = "wsctl-profile/1"\n[profile]\ntitle = "No id"\n')
    code, out, _ = run_cli(["--json", "profile", "list"], cwd=cwd, environ=environ)
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert code == 0
    assert rows["deep"]["valid"] is True and rows["deep"]["id"] == "deep" and rows["deep"]["commands"] == 1
    assert rows["other"]["valid"] is False and "format: expected 'wsctl-profile/1'" in rows["other"]["error"]
    assert rows["noid"]["valid"] is False and "profile.id" in rows["noid"]["error"]
    code, _, err = run_cli(["profile", "validate", "deep"], cwd=cwd, environ=environ)
    assert code == 8 and "11 is above the maximum 10" in err


def test_list_all_marks_shadowed(sandbox):
    cwd, environ = sandbox
    (cwd / "profiles" / "psu.toml").write_text(MINIMAL.format(id="my-psu", title="Our PSU"))
    code, out, _ = run_cli(["--json", "profile", "list", "--all"], cwd=cwd, environ=environ)
    psu = [json.loads(line) for line in out.splitlines() if json.loads(line)["name"] == "psu"]
    assert [(r["origin"], r["shadowed"], r["id"]) for r in psu] == [
        ("project", False, "my-psu"),
        ("shipped", True, "psu"),
    ]


def test_show_prints_commands_params_units_ranges_roles(sandbox):
    cwd, environ = sandbox
    code, out, _ = run_cli(["profile", "show", "conveyor"], cwd=cwd, environ=environ)
    assert code == 0
    assert "set_speed  [conveyor.set_speed]" in out
    assert "speed: integer 0..3000 mm/s required" in out
    assert "roles engineer+" in out and "estop  [conveyor.estop]  DANGEROUS" in out
    assert "motor_temp: number °C" in out


def test_show_json_has_wire_names_and_params(sandbox):
    cwd, environ = sandbox
    code, out, _ = run_cli(["--json", "profile", "show", "ocpp16-charger"], cwd=cwd, environ=environ)
    doc = json.loads(out)
    start = next(c for c in doc["commands"] if c["key"] == "remote_start")
    assert start["name"] == "RemoteStartTransaction"
    id_tag = next(p for p in start["params"] if p["name"] == "id_tag")
    assert id_tag["wire"] == "idTag" and id_tag["required"] is True
    reset = next(c for c in doc["commands"] if c["key"] == "reset")
    assert reset["dangerous"] is True and reset["success"] == {"/status": "Accepted"}
    assert reset["params"][0]["default"] == "Soft"


def test_show_framing_toml_can_be_pasted_into_a_profile(sandbox):
    """The expanded rules, pasted into a profile without `preset`, frame exactly
    like the preset."""
    cwd, environ = sandbox
    for name in SHIPPED:
        code, out, _ = run_cli(["profile", "show", name, "--framing"], cwd=cwd, environ=environ)
        assert code == 0 and out.startswith("# framing of")
        body = _shipped_text(name)
        original = parse_profile(body, source=name)
        start, end = body.index("[framing]"), body.index("# --- commands")
        rewritten = body[:start] + out + "\n" + body[end:]
        copy = parse_profile(rewritten, source=f"{name}-explicit")
        assert copy.framing.preset is None
        for attr in (
            "encoding",
            "id_scheme",
            "max_in_flight",
            "request",
            "result",
            "error",
            "event",
            "device_request",
            "inbound",
            "errors",
            "unknown_id",
        ):
            assert getattr(copy.framing, attr) == getattr(original.framing, attr), (name, attr)
        for attr in ("event_regex", "error_regex"):
            a, b = getattr(copy.framing, attr), getattr(original.framing, attr)
            assert (a and a.pattern) == (b and b.pattern)


def _shipped_text(name):
    from profile_helpers import REPO

    return (REPO / "profiles" / f"{name}.toml").read_text()


def test_show_framing_json(sandbox):
    cwd, environ = sandbox
    code, out, _ = run_cli(["--json", "profile", "show", "ocpp16-charger", "--framing"], cwd=cwd, environ=environ)
    doc = json.loads(out)
    assert doc["preset"] == "ocpp-j"
    assert doc["framing"]["request"] == [2, "{{id}}", "{{name}}", "{{params}}"]
    assert doc["framing"]["inbound"][0] == {"kind": "result", "match": {"/0": 3}, "id": "/1", "payload": "/2"}


def test_show_unknown_name_exits_8_listing_known(sandbox):
    cwd, environ = sandbox
    code, _, err = run_cli(["profile", "show", "conveyer"], cwd=cwd, environ=environ)
    assert code == 8
    assert (
        "no profile named 'conveyer' (known: conveyor, ocpp16, ocpp16-charger, ocpp201, ocpp201-charger, psu, shelly-gen2;"
        in err
        and "did you mean 'conveyor'?" in err
    )


def test_validate_ok_and_errors(sandbox, tmp_path):
    cwd, environ = sandbox
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL.format(id="good", title="Good"))
    bad = tmp_path / "bad.toml"
    bad.write_text(
        MINIMAL.format(id="bad", title="Bad")
        + '[commands.ping.params.speed]\ntype = "integer"\nmaximum = 10\ndefault = 11\n'
    )
    code, out, err = run_cli(["profile", "validate", str(good), "psu"], cwd=cwd, environ=environ)
    assert code == 0 and err == ""
    assert out.splitlines()[0].startswith(f"{good}: ok (good: 1 command, 0 events)") and "psu: ok" in out
    code, out, err = run_cli(["profile", "validate", str(bad), str(good)], cwd=cwd, environ=environ)
    assert code == 8
    assert err == f"wsctl: error: {bad}: commands.ping.params.speed.default: speed: 11 is above the maximum 10\n"
    assert "good.toml: ok" in out  # every file checked, even after a failure
    code, out, _ = run_cli(
        ["--json", "profile", "validate", str(bad), str(tmp_path / "missing.toml")], cwd=cwd, environ=environ
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 8 and [r["ok"] for r in rows] == [False, False]
    assert rows[1]["message"].endswith("missing.toml: no such profile file")


def test_validate_needs_a_file():
    code, _, err = run_cli(["profile", "validate"])
    assert code == 2 and "Missing argument" in err


def test_export_yaml_json_and_out(sandbox, tmp_path):
    import yaml

    cwd, environ = sandbox
    code, out, _ = run_cli(["profile", "export", "conveyor", "--asyncapi"], cwd=cwd, environ=environ)
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["asyncapi"] == "3.0.0" and doc["operations"]["send.estop"]["x-wsctl-dangerous"] is True
    code, out, _ = run_cli(
        [
            "profile",
            "export",
            "conveyor",
            "--asyncapi",
            "--format",
            "json",
            "--server-url",
            "wss://plc-17.plant.local:8443/rpc",
        ],
        cwd=cwd,
        environ=environ,
    )
    as_json = json.loads(out)
    assert as_json["servers"]["device"]["host"] == "plc-17.plant.local:8443"
    assert as_json | {"servers": None} == doc | {"servers": None}  # same document either way
    target = tmp_path / "ocpp.json"
    code, out, err = run_cli(
        ["profile", "export", "ocpp16-charger", "--asyncapi", "--out", str(target)], cwd=cwd, environ=environ
    )
    assert code == 0 and out == "" and f"wrote {target}" in err
    assert json.loads(target.read_text())["info"]["x-wsctl-profile"] == "ocpp16-charger"


def test_export_needs_a_format_and_a_wss_url(sandbox):
    cwd, environ = sandbox
    code, _, err = run_cli(["profile", "export", "conveyor"], cwd=cwd, environ=environ)
    assert code == 2 and "--asyncapi" in err
    code, _, err = run_cli(
        ["profile", "export", "conveyor", "--asyncapi", "--server-url", "http://x/"], cwd=cwd, environ=environ
    )
    assert code == 8 and "expected wss://" in err


def test_profile_help_stays_light():
    code = (
        "import sys; from wsctl.cli.main import run; run(['profile', '--help']);"
        "print([m for m in ('trio', 'cryptography', 'tomllib', 'wsctl.core.profile.loader') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_list_escapes_what_profile_files_say(sandbox):
    """A title holding a terminal escape or a newline is shown escaped, one line per field."""
    cwd, environ = sandbox
    (cwd / "profiles" / "evil.toml").write_text(MINIMAL.format(id="evil", title="Evil\\u001b[31m\\nFAKE line"))
    code, out, _ = run_cli(["profile", "list"], cwd=cwd, environ=environ)
    assert code == 0 and "\x1b" not in out and "\\x1b[31m" in out
    assert not any(line.startswith("FAKE") for line in out.splitlines())


def test_json_output_of_validate_and_export_is_json_lines(sandbox, tmp_path):
    """Under --json: a failed validation carries exit_code like every error
    object; export prints the document as one JSON line, or says what it wrote."""
    cwd, environ = sandbox
    bad = tmp_path / "bad.toml"
    bad.write_text("not = = toml")
    code, out, _ = run_cli(["--json", "profile", "validate", str(bad)], cwd=cwd, environ=environ)
    assert code == 8
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["ok"] is False and line["error"] == "invalid" and line["exit_code"] == 8 and line["message"]
    code, out, _ = run_cli(["--json", "profile", "export", "conveyor", "--asyncapi"], cwd=cwd, environ=environ)
    assert code == 0
    (doc,) = [json.loads(x) for x in out.splitlines()]
    assert doc["asyncapi"] == "3.0.0"
    target = tmp_path / "c.yaml"
    code, out, _ = run_cli(
        ["--json", "profile", "export", "conveyor", "--asyncapi", "--out", str(target)], cwd=cwd, environ=environ
    )
    assert code == 0 and target.exists()
    (said,) = [json.loads(x) for x in out.splitlines()]
    assert said["event"] == "exported" and said["file"] == str(target) and said["format"] == "yaml"
