"""What a fleet's result line and a device's preparation do not do for every
device (docs/performance.md, fan-out session 9): no human text in --json mode,
no URL parse for Basic auth when the URL has no userinfo."""

from __future__ import annotations

import io
import json

import pytest

from wsctl.cli.support import client_options
from wsctl.cli.support.env import Environment
from wsctl.cli.support.fleet import Outcome
from wsctl.cli.support.outcome import emit_outcome


def _never(value):
    raise AssertionError("the human text was made in --json mode")


@pytest.mark.parametrize("fleet", [True, False])
def test_json_results_make_no_human_text(fleet):
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), json=True, environ={})
    emit_outcome(env, Outcome("belt-1", True, 0.01234, value=7), fleet=fleet, fields=lambda v: {"v": v}, human=_never)
    assert json.loads(env.stdout.getvalue()) == {"device": "belt-1", "ok": True, "elapsed": 0.0123, "v": 7}


def test_human_results_still_have_their_text():
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), json=False, environ={})
    emit_outcome(env, Outcome("belt-1", True, 0.5, value=7), fleet=True, fields=lambda v: {}, human=str)
    assert env.stdout.getvalue().split() == ["belt-1", "ok", "0.500s", "7"]


def test_a_url_without_userinfo_is_not_parsed_for_basic_auth(monkeypatch):
    import urllib.parse

    def no_parse(*a, **kw):
        raise AssertionError("parsed")

    monkeypatch.setattr(urllib.parse, "urlsplit", no_parse)
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    assert client_options.basic_auth_credentials(env, "wss://10.0.0.7:8443/belt/1", None, None) is None


def test_a_url_user_still_asks_for_the_password():
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={client_options.BASIC_AUTH_ENV: "s3cret"})
    assert client_options.basic_auth_credentials(env, "wss://CP-1@10.0.0.7/ocpp", None, None) == ("CP-1", "s3cret")
