"""Profiles for the simulator tests, written here so the tests do not depend on
the shipped ones changing: one per framing preset, plus a custom framing."""

from __future__ import annotations

from wsctl.core.profile.loader import parse_profile

JSONRPC = """
format = "wsctl-profile/1"
[profile]
id = "belt"
[transport]
subprotocols = ["belt.v1"]
[framing]
preset = "jsonrpc2"
[commands.start]
name = "belt.start"
roles = ["operator+"]
[commands.stop]
name = "belt.stop"
roles = ["operator+"]
[commands.status]
name = "belt.status"
roles = ["*"]
[commands.set_speed]
name = "belt.set_speed"
roles = ["engineer+"]
[commands.set_speed.params.speed]
type = "integer"
minimum = 0
maximum = 3000
unit = "mm/s"
[commands.set_speed.params.ramp]
type = "number"
default = 1.5
[commands.ping]
name = "belt.ping"
[commands.quit]
name = "belt.quit"
[commands.slow]
name = "belt.slow"
[events.telemetry]
name = "belt.telemetry"
[events.ask]
name = "belt.ask"
kind = "request"
reply = {ok = true}
[sim.state]
state = "stopped"
speed = 0
setpoint = 1000
temp = 35.0
count = 0
load = 40.0
[sim.commands.start]
require = { state = ["stopped", "idle"] }
require_message = "belt is {{state.state}}: cannot start"
set = { state = "running", speed = "{{state.setpoint}}" }
reply = { state = "{{state.state}}", speed = "{{state.speed}}", at = "{{now}}" }
[sim.commands.stop]
set = { state = "stopped", speed = 0 }
reply = { state = "{{state.state}}" }
then = ["emit:telemetry"]
[sim.commands.set_speed]
require = { state = "running" }
require_message = "not running"
set = { speed = "{{params.speed}}", setpoint = "{{params.speed}}" }
reply = { speed = "{{state.speed}}", ramp = "{{params.ramp}}", id = "{{id}}", name = "{{name}}" }
[sim.commands.status]
reply = { state = "{{state.state}}", speed = "{{state.speed}}", count = "{{state.count}}" }
[sim.commands.slow]
delay = 0.5
reply = { state = "{{state.state}}" }
[sim.commands.quit]
reply = { bye = true }
then = ["close"]
[sim.telemetry.fast]
event = "telemetry"
every = 1.0
payload = { speed = "{{state.speed}}", temp = "{{state.temp}}", count = "{{state.count}}", load = "{{state.load}}" }
[sim.telemetry.fast.update]
count = { increment = 1 }
temp = { random_walk = 0.5, min = 34.6, max = 35.4 }
load = { fluctuation = 10, min = 0.0, max = 100.0 }
[sim.telemetry.slow]
event = "telemetry"
every = 5.0
payload = { slow = true }
"""

OCPP = """
format = "wsctl-profile/1"
[profile]
id = "cp"
timeout = 30
[transport]
subprotocols = ["ocpp1.6"]
dialer = "device"
[framing]
preset = "ocpp-j"
[commands.reset]
name = "Reset"
roles = ["engineer+"]
[commands.reset.params.type]
type = "string"
enum = ["Soft", "Hard"]
default = "Soft"
[commands.remote_start]
name = "RemoteStartTransaction"
roles = ["operator+"]
[commands.remote_start.params.id_tag]
type = "string"
wire = "idTag"
[commands.remote_start.params.connector_id]
type = "integer"
wire = "connectorId"
minimum = 1
maximum = 1
required = false
[events.boot]
name = "BootNotification"
kind = "request"
reply = { status = "Accepted", currentTime = "{{now}}", interval = 300 }
[events.boot.fields.chargePointVendor]
type = "string"
default = "ACME"
[events.status]
name = "StatusNotification"
kind = "request"
reply = {}
[sim]
on_connect = ["emit:boot", "emit:status"]
[sim.state]
connector = "Available"
tag = ""
[sim.commands.reset]
reply = { status = "Accepted" }
then = ["close"]
[sim.commands.remote_start]
require = { connector = "Available" }
require_message = "connector is {{state.connector}}"
set = { connector = "Charging", tag = "{{params.id_tag}}" }
reply = { status = "Accepted" }
then = ["emit:status"]
[sim.telemetry.status]
event = "status"
every = 300
payload = { connectorId = 1, status = "{{state.connector}}" }
"""

TEXT = """
format = "wsctl-profile/1"
[profile]
id = "psu"
[transport]
encoding = "text"
[framing]
preset = "text-lockstep"
[commands.volt]
name = "VOLT"
request = "{{name}} {{params.value}}"
roles = ["engineer+"]
[commands.volt.params.value]
type = "number"
minimum = 0
maximum = 30
unit = "V"
[commands.read]
name = "READ?"
request = "{{name}}"
roles = ["*"]
[events.meas]
name = "MEAS"
[sim.state]
volt = 0.0
[sim.commands.volt]
set = { volt = "{{params.value}}" }
reply = "OK {{state.volt}}"
[sim.commands.read]
reply = "VOLT {{state.volt}}"
[sim.telemetry.meas]
event = "meas"
every = 2
payload = { volt = "{{state.volt}}" }
"""

#: a device that fits no preset: {"cmd": ..., "seq": n, "args": {...}}, and one
#: command with its own fixed template
CUSTOM = """
format = "wsctl-profile/1"
[profile]
id = "odd"
[framing]
encoding = "json"
id = "counter"
request = { v = 1, seq = "{{id}}", cmd = "{{name}}", args = "{{params}}" }
result = { seq = "{{id}}", ok = "{{payload}}" }
error = { seq = "{{id}}", fail = { code = "{{code}}", text = "{{message}}" } }
unknown_id = -1
[[framing.inbound]]
kind = "result"
match = { "/ok" = { exists = true } }
id = "/seq"
payload = "/ok"
[[framing.inbound]]
kind = "error"
match = { "/fail" = { exists = true } }
id = "/seq"
code = "/fail/code"
message = "/fail/text"
[commands.move]
name = "move"
[commands.move.params.x]
type = "integer"
[commands.home]
name = "home"
request = { v = 1, seq = "{{id}}", home = true, axis = "{{params.axis}}" }
[commands.home.params.axis]
type = "string"
enum = ["x", "y"]
"""


def load(text: str, name: str = "test.toml"):
    return parse_profile(text, source=name)
