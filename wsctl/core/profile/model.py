"""What a profile says, as frozen data.  `loader.py` builds it from TOML and
checks it; `codec.py` (client side) and `device.py` (device side) use it.

Format `wsctl-profile/1`, documented field by field in docs/profiles.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wsctl.core.profile.params import Param

if TYPE_CHECKING:
    from wsctl.core.hub.central_spec import CentralSpec


ENCODINGS = ("json", "text")
ID_SCHEMES = ("counter", "uuid4", "none")
INBOUND_KINDS = ("result", "error", "event", "request")
#: abstract error kinds a device side reports; presets map them to protocol codes
ERROR_KINDS = ("parse", "invalid_request", "unknown_command", "invalid_params", "not_authorized", "internal", "device")


@dataclass(frozen=True)
class Match:
    """One condition of an inbound rule: the value at `pointer` equals `value`,
    or (with `exists` set) is present / absent."""

    pointer: str
    value: Any = None
    exists: bool | None = None


@dataclass(frozen=True)
class InboundRule:
    """Classifies a JSON message the tool receives; first matching rule wins."""

    kind: str
    match: tuple[Match, ...]
    id: str | None = None
    name: str | None = None
    payload: str | None = None
    code: str | None = None
    message: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ErrorForm:
    code: Any
    message: str


@dataclass(frozen=True)
class Framing:
    preset: str | None
    encoding: str
    id_scheme: str
    #: 0 = unlimited; OCPP allows one outstanding call per direction
    max_in_flight: int
    request: Any
    result: Any
    error: Any
    event: Any
    device_request: Any
    inbound: tuple[InboundRule, ...]
    event_regex: re.Pattern[str] | None
    error_regex: re.Pattern[str] | None
    errors: dict[str, ErrorForm]
    #: id to use in an error reply to a request whose own id could not be read
    unknown_id: Any
    #: text encoding: strings a device takes as the end of one command and the
    #: start of the next within a message (SCPI's ";")
    separators: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    key: str
    name: str
    summary: str
    description: str
    params: tuple[Param, ...]
    timeout: float
    dangerous: bool
    confirm: str | None
    roles: tuple[str, ...]
    allowed_roles: frozenset[str]
    success: tuple[tuple[str, Any], ...]
    success_regex: re.Pattern[str] | None
    request: Any
    #: text encoding: how the device side reads this command's request back,
    #: made when the profile loads (`template.text_pattern`: the regex, and the
    #: parameter each group holds), so `profile validate` finds what `serve` would
    reader: tuple[re.Pattern[str], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def usage(self) -> str:
        """`set_speed speed=<integer 0..3000 mm/s>` for error messages and help."""
        parts = [self.key]
        for p in self.params:
            body = p.describe().split(": ", 1)[1]
            parts.append(f"{p.name}=<{body}>" if p.required else f"[{p.name}=<{body}>]")
        return " ".join(parts)


@dataclass(frozen=True)
class Event:
    key: str
    name: str
    summary: str
    #: "telemetry": unsolicited, no answer; "request": the device asks and must be answered
    kind: str
    reply: Any
    fields: tuple[Param, ...]


@dataclass(frozen=True)
class Update:
    """How a telemetry value changes each period."""

    field: str
    increment: float | None = None
    random_walk: float | None = None
    fluctuation: float | None = None  # percent around `around`
    around: float | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class SimCheck:
    """One precondition of a command: state paths (dotted, segments may be
    templates: `config.{{params.key}}.readonly`) that must hold the wanted
    value (or one of a list of them)."""

    require: tuple[tuple[str, Any], ...]
    message: str
    #: a result to answer with when the check fails, instead of the device
    #: error: OCPP reports a refused command as {"status": "Rejected"}
    reply: Any = None


@dataclass(frozen=True)
class SimList:
    """A reply field built from a table in the state, one item per entry, or
    per requested name when the request names some (GetConfiguration's `key`,
    GetVariables' getVariableData)."""

    #: the reply field that receives the items
    field: str
    #: dotted state path of the table (name -> entry; nested tables for dotted names)
    state: str
    #: the parameter listing the requested names; absent or empty: every entry
    names: str | None
    #: how to read a name from a requested entry (context: request); None: the entry is the name
    name: Any
    #: per found entry (context: key, item, request, params, state, now)
    item: Any
    #: per requested name not in the table (context: key, request); None: left out
    unknown_item: Any = None
    #: a reply field listing the requested names not in the table (OCPP 1.6 unknownKey)
    unknown: str | None = None
    #: fields written into each found entry (context as for `item`): SetVariables
    write: tuple[tuple[str, Any], ...] = ()
    #: the entry must hold these values to be written, else `refused_item` answers for it
    write_when: tuple[tuple[str, Any], ...] = ()
    refused_item: Any = None


@dataclass(frozen=True)
class SimCommand:
    key: str
    reply: Any
    set: tuple[tuple[str, Any], ...]
    require: tuple[tuple[str, Any], ...]
    require_message: str
    delay: float
    then: tuple[str, ...]
    #: a result to answer with when `require` fails, instead of the device
    #: error: OCPP reports a refused command as {"status": "Rejected"}
    require_reply: Any = None
    #: further preconditions, checked in order after `require`
    checks: tuple[SimCheck, ...] = ()
    lists: tuple[SimList, ...] = ()


@dataclass(frozen=True)
class SimResponse:
    """What the device does with the answer to one of its own calls (the
    central system's BootNotification status, the transactionId it assigned):
    the first case of the event whose `when` matches the answer applies."""

    #: JSON pointer into the answer's payload -> wanted value (or list of values)
    when: tuple[tuple[str, Any], ...]
    #: state path -> template (context: payload, state, now, ok)
    set: tuple[tuple[str, Any], ...]
    then: tuple[str, ...]


@dataclass(frozen=True)
class SimTelemetry:
    key: str
    event: str
    #: seconds between emissions; 0 = only when a step says `emit:EVENT`
    every: float
    payload: Any
    updates: tuple[Update, ...]
    #: updates apply only while the state has these values (energy counts while charging)
    update_when: tuple[tuple[str, Any], ...] = ()
    #: the timer emits only while the state has these values (no MeterValues while idle)
    when: tuple[tuple[str, Any], ...] = ()
    #: a template for the period, read from the state whenever it changes
    #: (`{{state.config.HeartbeatInterval.value}}`); `every` is then 0
    every_from: str | None = None


@dataclass(frozen=True)
class Faults:
    reply_delay: float = 0.0
    drop_reply_probability: float = 0.0
    error_reply_probability: float = 0.0


@dataclass(frozen=True)
class SimCertificates:
    """`[sim.certificates]`: the simulated station's side of OCPP certificate
    management.  The key, the CSR, the chain check and the installed roots are
    wsctl's own code (net/station_certs.py), not templates; this says which of
    the profile's commands and events carry them."""

    #: "1.6" (security extension) or "2.0.1": the shapes of the answers
    ocpp: str
    #: the device request that carries the CSR (SignCertificate)
    csr_event: str
    #: the device request that reports a refused certificate (SecurityEventNotification)
    security_event: str
    #: requestedMessage values that make the station send a new CSR (SignChargePointCertificate)
    csr_triggers: tuple[str, ...]
    #: command key -> operation: "signed", "install", "list", "delete"
    commands: dict[str, str]
    #: fields added to the CSR's call (2.0.1: certificateType)
    csr_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sim:
    state: dict[str, Any]
    commands: dict[str, SimCommand]
    telemetry: tuple[SimTelemetry, ...]
    faults: Faults
    on_connect: tuple[str, ...]
    #: state set at each new connection, before `on_connect` (not registered yet)
    on_connect_set: tuple[tuple[str, Any], ...] = ()
    #: event key -> cases for the answers to the device's own calls
    responses: dict[str, tuple[SimResponse, ...]] = field(default_factory=dict)
    certificates: SimCertificates | None = None


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    version: str
    description: str
    source: str
    subprotocols: tuple[str, ...]
    path: str
    dialer: str
    framing: Framing
    default_timeout: float
    commands: dict[str, Command]
    events: dict[str, Event]
    sim: Sim | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: how the hub answers what devices ask (`[central]`); None: no central side
    central: CentralSpec | None = field(repr=False, compare=False, default=None)

    def command(self, key_or_wire: str) -> Command | None:
        """By profile key, or by the name on the wire (case-sensitive)."""
        found = self.commands.get(key_or_wire)
        if found is not None:
            return found
        return next((c for c in self.commands.values() if c.name == key_or_wire), None)

    def event_by_wire(self, name: str) -> Event | None:
        return next((e for e in self.events.values() if e.name == name), None)
