"""Device ids: the one rule every hub path, registry row and (later) MQTT topic level obeys.

An id arrives from the network (the path a device dials, `/ocpp/CP-17`), from an
operator's URL and from the command line, and it becomes a URL path segment, a
registry key, a recording file name and an MQTT topic level.  So it is kept to
what is safe in all of them: 1..64 characters of ``A-Z a-z 0-9 . _ : -``.  That
excludes ``/`` (OCPP's identity is a CiString48 without it), ``+ #`` (MQTT
wildcards), whitespace, NUL and every other control or non-ASCII character; ``.``
and ``..`` (path traversal) and a leading ``-`` (read as an option) are refused too.
"""

from __future__ import annotations

import re

from wsctl.core.errors import InvalidInput

MAX_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9._:-]+")
RULE = f"1 to {MAX_LENGTH} characters of A-Z a-z 0-9 . _ : -, not '.' or '..', not starting with '-'"


def _shown(text: str) -> str:
    """The id as it may appear in an error line: escaped, and cut when huge."""
    quoted = repr(text[:MAX_LENGTH])
    return quoted + ("..." if len(text) > MAX_LENGTH else "")


def check_device_id(text: str) -> str:
    """``text`` if it is a valid device id, else InvalidInput naming the rule it breaks."""
    return _check(text, "device id")


def check_group_name(text: str) -> str:
    """Group names follow the device id rule: they end up in the same places."""
    return _check(text, "group name")


def _check(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text, not {type(text).__name__}")
    if not text:
        raise InvalidInput(f"empty {what} (a {what} is {RULE})")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"{what} {_shown(text)} is {len(text)} characters, more than {MAX_LENGTH}")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise InvalidInput(f"{what} {_shown(text)} contains {bad!r} (a {what} is {RULE})")
    if text in (".", ".."):
        raise InvalidInput(f"{what} {_shown(text)} is not allowed (it is a path component)")
    if text.startswith("-"):
        raise InvalidInput(f"{what} {_shown(text)} starts with '-' (it would read as an option)")
    return text
