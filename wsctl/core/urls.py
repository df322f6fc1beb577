"""URLs as they may be shown: never with the password of their userinfo.

``wss://CP-1:secret@csms/ocpp/CP-1`` is how OCPP security profile 2 credentials
are often written; the URL is then printed in messages, JSON results, logs and
recording headers, none of which may hold the secret.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def public_url(url: str) -> str:
    """The URL without the password of its userinfo (the user id stays).

    The authority ends at the first ``/ ? #`` and the userinfo at its *last*
    ``@`` — as `urllib.parse.urlsplit` reads it, which is what sends the
    password — so a password that holds an ``@`` is cut whole, not in part."""
    url = url.strip()
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url
    start = scheme.end()
    end = next((i for i in range(start, len(url)) if url[i] in "/?#"), len(url))
    userinfo, at, hostport = url[start:end].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{url[:start]}{user}@{hostport}{url[end:]}"
