"""Text that UTF-8 can carry.  JSON can escape an unpaired surrogate
(``"\\ud800"``) and Python's parser hands it over as one, but UTF-8 cannot
encode it: whatever then prints, sends, records or audits the string fails.
Text from elsewhere (a recording, a peer's message) is checked here.  Pure."""

from __future__ import annotations

import json
import re
from typing import Any

#: a UTF-16 surrogate: in a str parsed from JSON (which pairs them up) always a lone one
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: Any) -> bool:
    """True when a string in ``value`` (a str, or a parsed JSON value: keys
    included) holds an unpaired surrogate.  JSON can escape one (``"\\ud800"``)
    but UTF-8 cannot encode it: printing, sending or exporting such a string fails."""
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if value is None or isinstance(value, (bool, int, float, bytes)):
        return False
    try:
        # ensure_ascii=False writes a surrogate as itself, so one search finds any at any depth
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return False
    return _SURROGATE.search(text) is not None


def loads_unicode(text: str) -> Any:
    """``json.loads(text)``, refusing (ValueError) a document with an unpaired
    surrogate; a text without a ``\\u`` escape is not walked (one substring search)."""
    doc = json.loads(text)
    if "\\u" in text and has_lone_surrogate(doc):
        raise ValueError("an unpaired surrogate escape (\\ud800-\\udfff): not valid Unicode")
    return doc
