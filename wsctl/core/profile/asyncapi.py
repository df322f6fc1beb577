"""A profile as an AsyncAPI 3.0.0 document (pure: Profile -> dict).

Layout, from the point of view of the application that uses the profile (the
operator's tool):

  servers.device          protocol wss, host (a variable unless given), pathname,
                          security: mutual TLS (an X509 scheme)
  channels.device         the one WebSocket connection at the profile's path; the
                          ws binding's handshake headers carry the subprotocols
                          (Sec-WebSocket-Protocol) — the binding has no field of
                          its own for them, so they are also in
                          x-wsctl-subprotocols
  messages                command.KEY (request), command.KEY.reply (result),
                          event.KEY, event.KEY.reply (for device requests), error
  operations              send.KEY with a reply (command.KEY.reply or error),
                          receive.KEY for events (with a reply when the device
                          asks); roles, danger, confirmation as x-wsctl-*

Payload schemas are derived from the framing templates: literals become
`const`, `{{id}}` the id's type, `{{name}}` the wire name, `{{params}}` an
object of the command's parameters (JSON-Schema subset, units as x-unit),
`{{payload}}` the event's declared fields.  Text profiles get string payloads
with an ECMA-262 `pattern` built from the template.  Correlation ids point at
the id of the inbound result rule (`$message.payload#/id`, `#/1` for OCPP).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING
from wsctl.core.profile.model import Command, Event, Profile
from wsctl.core.profile.params import Param
from wsctl.core.profile.template import PLACEHOLDER

VERSION = "3.0.0"
WS_BINDING = "0.1.0"
CHANNEL = "device"


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)}


def param_schema(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"type": p.type}
    if p.description:
        out["description"] = p.description
    if p.enum is not None:
        out["enum"] = list(p.enum)
    if p.minimum is not None:
        out["minimum"] = p.minimum
    if p.maximum is not None:
        out["maximum"] = p.maximum
    if p.pattern is not None:
        out["pattern"] = p.pattern
    if p.default is not MISSING:
        out["default"] = p.default
    if p.unit:
        out["x-unit"] = p.unit
    return out


def params_schema(params: tuple[Param, ...], *, by_wire: bool = True) -> dict[str, Any]:
    """An object schema: properties by wire name, required ones listed."""
    out: dict[str, Any] = {"type": "object", "properties": {}}
    required = []
    for p in params:
        key = p.wire_name if by_wire else p.name
        out["properties"][key] = param_schema(p)
        if p.required and p.default is MISSING:
            required.append(key)
    if required:
        out["required"] = required
    return out


def _value_schema(template: Any, slots: dict[str, Any]) -> Any:
    """JSON Schema for a JSON template; `slots` maps placeholder names to schemas."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return slots.get(whole.group(1), {})
        if PLACEHOLDER.search(template):
            return {"type": "string"}  # interpolated text
        return {"const": template}
    if isinstance(template, dict):
        props, required = {}, []
        for key, value in template.items():
            props[key] = _value_schema(value, slots)
            # an optional parameter left out drops its key (template.render)
            optional = (
                isinstance(value, str)
                and (w := PLACEHOLDER.fullmatch(value.strip()))
                and w.group(1) in slots.get("__optional__", ())
            )
            if not optional:
                required.append(key)
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        return out
    if isinstance(template, list):
        items = [_value_schema(item, slots) for item in template]
        # draft-07 tuple form (the AsyncAPI 3.0 schema object is draft-07 based)
        return {"type": "array", "items": items, "minItems": len(items), "additionalItems": False}
    return {"const": template}


_ECMA_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}/])")


def _text_pattern(template: str, slots: dict[str, str]) -> str:
    """An ECMA-262 regex for a text template: literal text escaped, placeholders
    replaced by their own sub-patterns (default `.*`)."""
    out, pos = ["^"], 0
    for match in PLACEHOLDER.finditer(template):
        out.append(_ECMA_SPECIAL.sub(r"\\\1", template[pos : match.start()]))
        out.append(slots.get(match.group(1), ".*"))
        pos = match.end()
    out.append(_ECMA_SPECIAL.sub(r"\\\1", template[pos:]) + "$")
    return "".join(out)


def _ecma(pattern: str) -> str:
    # Python's named groups (?P<x>...) are (?<x>...) in ECMA-262
    return pattern.replace("(?P<", "(?<")


class _Builder:
    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.fr = profile.framing
        self.text = self.fr.encoding == "text"
        id_schema: dict[str, Any] = {"counter": {"type": "integer"}, "uuid4": {"type": "string", "format": "uuid"}}.get(
            self.fr.id_scheme, {}
        )
        # a device's own ids can be anything the protocol allows: strings for OCPP, ints or strings for JSON-RPC
        self.base_slots: dict[str, Any] = {
            "id": id_schema,
            "now": {"type": "string", "format": "date-time"},
            "message": {"type": "string"},
            "detail": {},
        }
        codes = {type(form.code) for form in self.fr.errors.values()}
        self.base_slots["code"] = (
            {"type": "integer"} if codes == {int} else {"type": "string"} if codes == {str} else {}
        )
        self.messages: dict[str, Any] = {}

    # -- correlation -----------------------------------------------------------
    def correlation(self) -> dict[str, str] | None:
        rule = next((r for r in self.fr.inbound if r.kind == "result" and r.id), None)
        if self.text or self.fr.id_scheme == "none" or rule is None:
            return None
        return {"description": "The reply carries the request's id", "location": f"$message.payload#{rule.id}"}

    # -- payloads --------------------------------------------------------------
    def payload(self, template: Any, slots: dict[str, Any], text_slots: dict[str, str] | None = None) -> dict[str, Any]:
        if template is None:
            return {}
        if self.text:
            if not isinstance(template, str):
                return {"type": "string"}
            return {"type": "string", "pattern": _text_pattern(template, text_slots or {})}
        schema: dict[str, Any] = _value_schema(template, {**self.base_slots, **slots})
        return schema

    def command_request(self, c: Command) -> dict[str, Any]:
        slots = {
            "name": {"const": c.name},
            "params": params_schema(c.params),
            "__optional__": {f"params.{p.name}" for p in c.params if not p.required or p.default is not MISSING},
        }
        slots.update({f"params.{p.name}": param_schema(p) for p in c.params})
        text_slots = {"name": _ECMA_SPECIAL.sub(r"\\\1", c.name)}
        for p in c.params:
            if p.enum is not None:
                text_slots[f"params.{p.name}"] = (
                    "(" + "|".join(_ECMA_SPECIAL.sub(r"\\\1", str(v)) for v in p.enum) + ")"
                )
            elif p.type in ("integer", "number"):
                text_slots[f"params.{p.name}"] = r"-?\d+(\.\d+)?([eE][-+]?\d+)?" if p.type == "number" else r"-?\d+"
            else:
                text_slots[f"params.{p.name}"] = ".+"
        return self.payload(c.request, slots, text_slots)

    def command_reply(self, c: Command) -> dict[str, Any]:
        if self.text:
            schema: dict[str, Any] = {"type": "string"}
            if c.success_regex is not None:
                schema["pattern"] = _ecma(c.success_regex.pattern)
            return schema
        payload: dict[str, Any] = {}
        if c.success:
            # only the values the success check demands are known
            payload = {"type": "object"}
        return self.payload(self.fr.result, {"payload": payload})

    def error_payload(self) -> dict[str, Any]:
        if self.text:
            return (
                {"type": "string", "pattern": _ecma(self.fr.error_regex.pattern)}
                if self.fr.error_regex
                else {"type": "string"}
            )
        # an error to a request whose id could not be read carries unknown_id (null in JSON-RPC, "-1" in OCPP)
        id_schema = self.base_slots["id"]
        slots = {"id": {"anyOf": [id_schema, {"const": self.fr.unknown_id}]}} if id_schema else {}
        return self.payload(self.fr.error, slots)

    def event_payload(self, e: Event) -> dict[str, Any]:
        if self.text:
            if self.fr.event_regex is not None:
                return {"type": "string", "pattern": _ecma(self.fr.event_regex.pattern)}
            return self.payload(self.fr.event, {}, {"name": _ECMA_SPECIAL.sub(r"\\\1", e.name)})
        fields = params_schema(e.fields) if e.fields else {"type": "object"}
        template = self.fr.device_request if e.kind == "request" else (self.fr.event or self.fr.device_request)
        return self.payload(template, {"name": {"const": e.name}, "payload": fields})

    def event_reply(self, e: Event) -> dict[str, Any]:
        reply = _value_schema(e.reply, self.base_slots) if e.reply is not None else {}
        return self.payload(self.fr.result, {"payload": reply})

    # -- document ----------------------------------------------------------------
    def message(
        self, key: str, payload: dict[str, Any], *, name: str, summary: str = "", correlated: bool = True, **extra: Any
    ) -> dict[str, str]:
        msg: dict[str, Any] = {"name": name, "payload": payload}
        if summary:
            msg["summary"] = summary
        if correlated and self.correlation() is not None:
            msg["correlationId"] = _ref("components", "correlationIds", "id")
        msg.update(extra)
        self.messages[key] = msg
        return _ref("channels", CHANNEL, "messages", key)

    def build(self, server_url: str | None) -> dict[str, Any]:
        operations: dict[str, Any] = {}
        # messages register in the order they are made: the error form, then each command's, then each event's
        err = self.message("error", self.error_payload(), name="error", summary="The device's error reply to a request")
        for c in self.p.commands.values():
            operations[f"send.{c.key}"] = self._send_operation(c, err)
        for e in self.p.events.values():
            operations[f"receive.{e.key}"] = self._receive_operation(e)
        return {
            "asyncapi": VERSION,
            "info": self._info(),
            "defaultContentType": "text/plain" if self.text else "application/json",
            "servers": {"device": self._server(server_url)},
            "channels": {CHANNEL: self._channel()},
            "operations": operations,
            "components": self._components(),
        }

    def _send_operation(self, c: Command, err: dict[str, Any]) -> dict[str, Any]:
        channel_ref = _ref("channels", CHANNEL)
        req = self.message(f"command.{c.key}", self.command_request(c), name=c.name, summary=c.summary or c.key)
        extra: dict[str, Any] = {}
        if c.success:
            extra["x-wsctl-success"] = {ptr: v for ptr, v in c.success}
        if c.success_regex is not None:
            extra["x-wsctl-success-regex"] = c.success_regex.pattern
        rep = self.message(f"command.{c.key}.reply", self.command_reply(c), name=f"{c.name} reply", **extra)
        op: dict[str, Any] = {
            "action": "send",
            "channel": channel_ref,
            "title": c.key,
            "messages": [req],
            "reply": {"channel": channel_ref, "messages": [rep, err]},
            "x-wsctl-roles": list(c.roles),
            "x-wsctl-dangerous": c.dangerous,
            "x-wsctl-timeout": c.timeout,
        }
        if c.summary:
            op["summary"] = c.summary
        if c.description:
            op["description"] = c.description
        if c.confirm:
            op["x-wsctl-confirm"] = c.confirm
        return op

    def _receive_operation(self, e: Event) -> dict[str, Any]:
        channel_ref = _ref("channels", CHANNEL)
        ev = self.message(
            f"event.{e.key}",
            self.event_payload(e),
            name=e.name,
            summary=e.summary or e.key,
            correlated=e.kind == "request",
        )
        op: dict[str, Any] = {
            "action": "receive",
            "channel": channel_ref,
            "title": e.key,
            "messages": [ev],
            "x-wsctl-event-kind": e.kind,
        }
        if e.summary:
            op["summary"] = e.summary
        if e.kind == "request":
            rep = self.message(f"event.{e.key}.reply", self.event_reply(e), name=f"{e.name} reply")
            op["reply"] = {"channel": channel_ref, "messages": [rep]}
        return op

    def _channel(self) -> dict[str, Any]:
        p = self.p
        channel: dict[str, Any] = {
            "address": p.path,
            "title": p.title,
            "messages": self.messages,
            "servers": [_ref("servers", "device")],
        }
        if p.subprotocols:
            channel["bindings"] = {
                "ws": {
                    "bindingVersion": WS_BINDING,
                    "headers": {
                        "type": "object",
                        "required": ["Sec-WebSocket-Protocol"],
                        "properties": {
                            "Sec-WebSocket-Protocol": {
                                "type": "string",
                                "enum": list(p.subprotocols),
                                "description": "WebSocket subprotocol offered in the handshake",
                            }
                        },
                    },
                }
            }
            channel["x-wsctl-subprotocols"] = list(p.subprotocols)
        return channel

    def _components(self) -> dict[str, Any]:
        components: dict[str, Any] = {
            "securitySchemes": {
                "mtls": {
                    "type": "X509",
                    "description": "Mutual TLS: the client presents a certificate; its role decides which commands it may run",
                }
            }
        }
        if self.correlation() is not None:
            components["correlationIds"] = {"id": self.correlation()}
        return components

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "title": self.p.title,
            "version": self.p.version,
            "x-wsctl-profile": self.p.id,
            "x-wsctl-framing": {
                "preset": self.fr.preset,
                "encoding": self.fr.encoding,
                "id": self.fr.id_scheme,
                "max_in_flight": self.fr.max_in_flight,
            },
        }
        if self.p.description:
            info["description"] = self.p.description.strip()
        return info

    def _server(self, url: str | None) -> dict[str, Any]:
        p = self.p
        who = (
            "The central system the device dials (transport.dialer = device)"
            if p.dialer == "device"
            else "The device; wsctl dials it"
        )
        server: dict[str, Any] = {
            "protocol": "wss",
            "description": who,
            "security": [_ref("components", "securitySchemes", "mtls")],
            "x-wsctl-dialer": p.dialer,
        }
        if url is None:
            server.update(
                host="{host}",
                pathname=p.path,
                variables={"host": {"default": "localhost:8443", "description": "host:port of the device"}},
            )
            return server
        parts = urlsplit(url)
        if parts.scheme != "wss" or not parts.netloc:
            raise InvalidInput(f"--server-url: expected wss://host[:port][/path], got {url!r}")
        server.update(host=parts.netloc, pathname=parts.path or p.path)
        return server


def to_asyncapi(profile: Profile, *, server_url: str | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document for `profile` (a plain dict of JSON values)."""
    return _Builder(profile).build(server_url)
