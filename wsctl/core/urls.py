"""URLs as they may be shown: never with the password of their userinfo.

``wss://CP-1:secret@csms/ocpp/CP-1`` is how OCPP security profile 2 credentials
are often written; the URL is then printed in messages, JSON results, logs and
recording headers, none of which may hold the secret.
"""

from __future__ import annotations

import re

_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def public_url(url: str) -> str:
    """The URL without the password of its userinfo (the user id stays)."""
    return _USERINFO_PASSWORD.sub(r"\1@", url.strip())
