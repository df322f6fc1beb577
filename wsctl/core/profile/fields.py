"""Small readings of a profile: an event's payload into its declared fields,
and the URL a profile's `path` implies.

Reading an event's payload into its declared fields.

JSON events already carry objects.  Text devices put fields on one line
(`#EVT MEAS V=12.5 I=0.48 T=31.2`); when the profile declares the event's
fields, `name=value` words are parsed by each field's type so telemetry from a
text device is as usable as JSON telemetry (watch prints units, scripts get
numbers).
"""

from __future__ import annotations

from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.model import Event, Profile


def decode_fields(event: Event | None, payload: Any) -> Any:
    """A dict of typed field values for a `k=v ...` text payload whose every word
    is a declared field; anything else is returned unchanged."""
    if event is None or not event.fields or not isinstance(payload, str):
        return payload
    declared = {f.name: f for f in event.fields}
    out: dict[str, Any] = {}
    for word in payload.split():
        name, sep, value = word.partition("=")
        field = declared.get(name)
        if not sep or field is None:
            return payload
        try:
            out[name] = field.parse(value)
        except InvalidInput:
            return payload
    return out or payload


def profile_url(url: str, profile: Profile) -> str:
    """The URL with the profile's `path` when the URL has no path at all
    (`wss://plc-17:8443` + path `/rpc`).  A path typed in the URL always wins,
    `/` included: a device that lives at `/` must stay reachable with a
    profile.  A templated path (`/ocpp/{station_id}`) cannot be filled in here."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.path == "" and not parts.query and profile.path not in ("", "/") and "{" not in profile.path:
        return urlunsplit((parts.scheme, parts.netloc, profile.path, "", ""))
    return url


def is_reply(profile: Any, message: str | bytes) -> bool:
    """Whether a device message answers a request (result or error) by the
    profile's rules, rather than being telemetry or the device's own request.
    Replay uses it to compare replies only.  A message the profile cannot read
    counts as a reply, so it is compared (and reported) rather than hidden."""
    import json

    from wsctl.core.profile.codec import _matches

    framing = profile.framing
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
    except UnicodeDecodeError:
        return True
    if framing.encoding == "text":
        return not (framing.event_regex is not None and framing.event_regex.match(text.rstrip("\r\n")))
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
        return True
    rule = next((r for r in framing.inbound if _matches(r, doc)), None)
    return rule is None or rule.kind in ("result", "error")
