"""URLs as shown in messages, JSON results, logs and recording headers: never
with the password of their userinfo — also one holding an ``@``, which
`urllib.parse.urlsplit` (what sends the password) reads up to the last ``@``."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsctl.core.urls import public_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("wss://CP-1:secret@csms/ocpp/CP-1", "wss://CP-1@csms/ocpp/CP-1"),
        ("wss://CP1:Sek@r3tPW@127.0.0.1:9/x", "wss://CP1@127.0.0.1:9/x"),
        ("wss://CP1:s@h/?q=a@b", "wss://CP1@h/?q=a@b"),
        ("wss://h/p@x", "wss://h/p@x"),
        ("wss://u@h/", "wss://u@h/"),
        ("wss://u:p:q@h:1", "wss://u@h:1"),
        ("  wss://u:p@h/  ", "wss://u@h/"),
        ("not a url:pw@x", "not a url:pw@x"),
    ],
)
def test_the_password_is_cut_whole(url, shown):
    assert public_url(url) == shown


_part = st.text(alphabet=st.characters(blacklist_characters="/?#\\\\[]", blacklist_categories=("Cs", "Cc")), min_size=1)


@settings(max_examples=300, deadline=None)
@given(
    user=_part.filter(lambda u: ":" not in u and "@" not in u),
    password=_part,
    host=st.sampled_from(["h", "127.0.0.1:8443"]),
)
def test_fuzz_what_urlsplit_sends_as_the_password_is_never_shown(user, password, host):
    url = f"wss://{user}:{password}@{host}/ocpp/x"
    sent = urlsplit(url).password
    assert sent == password
    shown = public_url(url)
    assert urlsplit(shown).password is None and shown == f"wss://{user}@{host}/ocpp/x"
