"""A small block-style YAML 1.2 writer for JSON values (dict, list, str, int,
float, bool, None) — enough for AsyncAPI documents, without a YAML dependency.

Correctness over beauty: a string is written plain only when no YAML 1.1 or
1.2 reader could take it for anything else (null, a boolean such as `yes`/`on`,
a number, a date, an alias, a comment, a flow collection ...); every other
string is double-quoted with JSON-style escapes, which YAML's double-quoted
style shares, plus escapes for the characters YAML does not allow raw.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# words that YAML 1.1 or 1.2 resolve to null or a boolean, in any capitalisation
_RESERVED = {
    "",
    "~",
    "null",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "<<",
    "=",
    ".inf",
    "-.inf",
    "+.inf",
    ".nan",
}
_SAFE_PLAIN = re.compile(r"[A-Za-z_$/(\u00a0-\ud7ff\ue000-\ufffd][^:#{}\[\],&*!|>'\"%@`\\\t\n\r]*")
# YAML's printable set, minus the line/paragraph separators and BOM some readers trip on
_NEEDS_ESCAPE = re.compile("[\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\u2028\u2029]")


def _plain_ok(text: str) -> bool:
    if text.lower() in _RESERVED or text != text.strip() or not _SAFE_PLAIN.fullmatch(text):
        return False
    if _NEEDS_ESCAPE.search(text) or any(ord(c) < 32 for c in text):
        return False
    # "- x", "? x" indicators need a following space; the first-character class
    # already excludes them; a trailing ":" is a key indicator in some readers
    return not text.endswith(":")


def quote(text: str) -> str:
    body = json.dumps(text, ensure_ascii=False)
    return _NEEDS_ESCAPE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", body)


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.1 readers need a dot or exponent to see a float; 1e+20 has neither dot
        return text if ("." in text or "inf" in text) else text.replace("e", ".0e", 1)
    if isinstance(value, str):
        return value if _plain_ok(value) else quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"YAML mapping keys must be strings here, got {type(key).__name__}")
    return scalar(key)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            written = _key(key)
            if len(written) > 1000:
                # YAML limits implicit keys to 1024 characters: use an explicit "? key"
                out.append(f"{pad}? {written}")
                written = ""
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{written}:")
                # block sequences under a key sit at the key's indentation + 2
                out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{written}: {_inline_empty(item)}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = _lines(item, indent + 2)
                # the first line of the nested block goes after "- "
                out.append(f"{pad}- {nested[0][indent + 2 :]}")
                out.extend(nested[1:])
            else:
                out.append(f"{pad}- {_inline_empty(item)}")
        return out
    return [pad + scalar(value)]


def _inline_empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def dumps(value: Any) -> str:
    """A YAML document for a JSON value, ending in a newline."""
    return "\n".join(_lines(value, 0)) + "\n"
