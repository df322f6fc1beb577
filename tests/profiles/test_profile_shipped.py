"""The shipped profiles parse, say what the design card asks, and are packaged."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from profile_helpers import CENTRAL, REPO, SHIPPED

from wsctl.core.roles import KNOWN
from wsctl.files.profiles import load_profile


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in CENTRAL])
def test_every_shipped_profile_parses_with_a_full_sim(name, sandbox):
    cwd, environ = sandbox
    profile = load_profile(name, cwd=cwd, environ=environ)
    assert profile.sim is not None and profile.sim.telemetry
    faults = profile.sim.faults
    assert (faults.reply_delay, faults.drop_reply_probability, faults.error_reply_probability) == (0, 0, 0)
    modes = {
        ("increment" if u.increment is not None else "random_walk" if u.random_walk is not None else "fluctuation")
        for t in profile.sim.telemetry
        for u in t.updates
    }
    assert modes  # every shipped simulator changes something over time
    # every command has simulated behaviour, so `serve --profile` never answers "not implemented"
    # (certificate commands are the station side's own code: [sim.certificates])
    certificates = set(profile.sim.certificates.commands) if profile.sim.certificates else set()
    assert set(profile.sim.commands) | certificates == set(profile.commands)


def test_top_level_profiles_is_the_shipped_directory():
    # design card: profiles/ at the top; the package data is the real copy
    assert (REPO / "profiles").resolve() == (REPO / "wsctl" / "profiles").resolve()
    assert sorted(p.stem for p in (REPO / "profiles").glob("*.toml")) == sorted(SHIPPED)


def test_conveyor_commands_roles_and_units(sandbox):
    p = load_profile("conveyor", cwd=sandbox[0], environ=sandbox[1])
    assert p.framing.preset == "jsonrpc2" and p.subprotocols == ("conveyor.v1",)
    for key in ("start", "stop", "reset"):
        assert p.commands[key].allowed_roles == {"operator", "engineer", "supervisor"}
    speed = p.commands["set_speed"].param("speed")
    assert (speed.type, speed.unit, speed.minimum, speed.maximum) == ("integer", "mm/s", 0, 3000)
    assert p.commands["set_speed"].allowed_roles == {"engineer", "supervisor"}
    estop = p.commands["estop"]
    assert estop.dangerous and estop.confirm and estop.allowed_roles == frozenset(KNOWN)
    fields = {f.name: f.unit for f in p.events["telemetry"].fields}
    assert fields["speed"] == "mm/s" and fields["motor_temp"] == "°C" and "state" in fields
    # demo flow: start sets running, which set_speed requires
    assert ("state", "running") in p.sim.commands["start"].set
    assert p.sim.commands["set_speed"].require == (("state", "running"),)


# What an observer may run on each shipped profile: reading, never changing (and
# conveyor's e-stop, which anyone who can reach the machine must be able to press).
OBSERVER_COMMANDS = {
    "conveyor": {"status", "estop"},
    "ocpp16-charger": {"get_configuration", "trigger_message", "get_installed_certificate_ids"},
    "ocpp201-charger": {"get_variables", "trigger_message", "get_installed_certificate_ids"},
    "ocpp16": {"get_configuration", "trigger_message", "get_composite_schedule", "get_installed_certificate_ids"},
    "ocpp201": {"get_variables", "get_base_report", "trigger_message", "get_installed_certificate_ids"},
    "psu": {"identify", "measure_voltage", "measure_current"},
    "shelly-gen2": {"get_status", "get_device_info", "switch_get_status"},
}


@pytest.mark.parametrize("name", SHIPPED)
def test_observers_read_status_and_change_nothing_on_every_shipped_profile(name, sandbox):
    p = load_profile(name, cwd=sandbox[0], environ=sandbox[1])
    observer_may = {key for key, command in p.commands.items() if "observer" in command.allowed_roles}
    assert observer_may == OBSERVER_COMMANDS[name]
    # operators and everyone above them read what observers read
    for key in observer_may:
        assert {"observer", "operator", "engineer", "supervisor"} <= p.commands[key].allowed_roles


def test_ocpp_charger(sandbox):
    p = load_profile("ocpp16-charger", cwd=sandbox[0], environ=sandbox[1])
    assert p.dialer == "device" and p.subprotocols == ("ocpp1.6",) and p.framing.preset == "ocpp-j"
    wire = {c.name for c in p.commands.values()}
    assert wire == {
        "Reset",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "GetConfiguration",
        "ChangeConfiguration",
        "TriggerMessage",
        # the security extension's certificate management (the station side: [sim.certificates])
        "ExtendedTriggerMessage",
        "CertificateSigned",
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
    }
    reset = p.command("Reset")
    assert reset.dangerous and reset.success == (("/status", "Accepted"),)
    assert reset.param("type").enum == ("Soft", "Hard")
    assert p.commands["remote_start"].param("id_tag").wire_name == "idTag"
    events = {e.name: e for e in p.events.values()}
    assert {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"} <= set(events)
    assert all(e.kind == "request" for e in events.values())
    assert events["BootNotification"].reply["status"] == "Accepted"
    assert events["BootNotification"].reply["currentTime"] == "{{now}}"
    assert events["Heartbeat"].reply == {"currentTime": "{{now}}"}
    assert p.sim.on_connect[0] == "emit:boot"


def test_text_psu(sandbox):
    p = load_profile("psu", cwd=sandbox[0], environ=sandbox[1])
    assert p.framing.encoding == "text" and p.framing.max_in_flight == 1 and p.framing.id_scheme == "none"
    assert p.commands["set_voltage"].request == "VOLT {{params.value}}"
    assert p.commands["identify"].name == "*IDN?"
    assert p.commands["output"].param("state").enum == ("ON", "OFF")
    m = p.framing.event_regex.match("#EVT MEAS V=12 I=0.5 T=30")
    assert m and m["name"] == "MEAS"
    e = p.framing.error_regex.match("ERR -222 Data out of range")
    assert e and e["code"] == "-222" and e["message"] == "Data out of range"
    assert p.commands["set_voltage"].success_regex.fullmatch("OK")


def test_wheel_contains_and_finds_the_profiles(tmp_path):
    """Build the wheel, install it into a bare directory and discover the profiles
    from there, in an interpreter that cannot see the source tree."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("wsctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"wsctl/profiles/{n}.toml" for n in SHIPPED} <= set(names)
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)  # a wheel is a zip laid out as site-packages
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from wsctl.files.profiles import list_profiles, load_profile;"
        "import wsctl; assert wsctl.__file__.startswith(sys.argv[1]), wsctl.__file__;"
        "print(sorted((l.name, l.origin) for l in list_profiles(cwd=sys.argv[1], environ={'HOME': sys.argv[1]})));"
        "print(load_profile('conveyor', cwd=sys.argv[1], environ={'HOME': sys.argv[1]}).id)"
    )
    # -S: no site-packages, so the editable install of this checkout is invisible
    run = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert run.returncode == 0, run.stderr
    listed, loaded = run.stdout.splitlines()
    assert listed == repr(sorted((n, "shipped") for n in SHIPPED))
    assert loaded == "conveyor"
