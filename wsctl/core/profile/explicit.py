"""A profile's framing written out in full, as a profile author could have typed
it: the preset's rules expanded, the profile's own keys laid over them.

`wsctl profile show NAME --framing` prints this as TOML (paste it into a new
profile and drop `preset`) or JSON.  The TOML writer covers what framing tables
contain: strings, numbers, booleans, lists and tables; TOML has no null, so
keys whose value is None are left out (absent means the same to the loader).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from wsctl.core.profile import presets
from wsctl.core.profile.model import Profile

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: the order an author would write them in
ORDER = (
    "encoding",
    "id",
    "max_in_flight",
    "request",
    "result",
    "error",
    "event",
    "device_request",
    "event_regex",
    "error_regex",
    "unknown_id",
    "errors",
    "inbound",
)


def explicit_framing(profile: Profile) -> dict[str, Any]:
    """The expanded framing table (without `preset`), None values dropped."""
    raw = dict(profile.raw.get("framing") or {})
    merged = presets.expand(raw)
    merged.pop("preset", None)
    # the loader's effective values win over what the table said (transport.encoding,
    # the lockstep rule forcing id = none and one in flight for text)
    fr = profile.framing
    merged.update(encoding=fr.encoding, id=fr.id_scheme, max_in_flight=fr.max_in_flight)
    merged["errors"] = {k: {"code": v.code, "message": v.message} for k, v in fr.errors.items()}
    out = {k: merged[k] for k in ORDER if merged.get(k) is not None}
    if not out.get("inbound"):
        out.pop("inbound", None)
    cleaned: dict[str, Any] = _drop_none(out)
    return cleaned


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # literal strings keep regexes readable ('\d' rather than "\\d")
        if "\\" in value and "'" not in value and not any(ord(c) < 32 or ord(c) == 127 for c in value):
            return f"'{value}'"
        # JSON's escapes (\" \\ \n \t \uXXXX) are all valid in TOML basic strings
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def framing_toml(framing: dict[str, Any], *, table: str = "framing") -> str:
    """`[framing]` with scalars and inline templates, then `[framing.errors]`, then
    one `[[framing.inbound]]` per rule."""
    lines = [f"[{table}]"]
    for key, value in framing.items():
        if key not in ("errors", "inbound"):
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    if framing.get("errors"):
        lines += ["", f"[{table}.errors]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in framing["errors"].items()]
    for rule in framing.get("inbound", []):
        lines += ["", f"[[{table}.inbound]]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"
