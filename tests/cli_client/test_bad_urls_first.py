"""A malformed or plaintext target URL is refused (exit 2) before the verb has
done anything: no file created, nothing listening, no start line printed."""

from __future__ import annotations

import json

import pytest
from client_helpers import wsctl

from wsctl.core.exit_table import ExitCode

BAD_URLS = ["wss://127.0.0.1:99999/", "http://127.0.0.1:1/", "wss://[::1:x/"]


def _refused(out) -> dict:
    assert out.returncode == ExitCode.USAGE, out.stdout + out.stderr
    assert out.stdout == ""
    return json.loads(out.stderr.splitlines()[-1])


@pytest.mark.parametrize("url", BAD_URLS)
def test_record_capture_creates_no_file_for_a_bad_url(plant, tmp_path, url):
    output = tmp_path / "u.jsonl"
    out = wsctl("--json", "record", "capture", url, *plant.op("alice"), "-o", str(output), "--count", "1")
    assert _refused(out)["error"] == "usage"
    assert not output.exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_record_proxy_does_not_listen_for_a_bad_upstream(plant, tmp_path, url):
    output = tmp_path / "px.jsonl"
    out = wsctl(
        "--json", "record", "proxy", "--listen", "127.0.0.1:0", "--upstream", url, "-o", str(output),
        *plant.op("alice"), "--device", "dev", timeout=20,
    )  # fmt: skip
    assert _refused(out)["error"] == "usage"
    assert not output.exists()


@pytest.mark.parametrize("url", BAD_URLS)
def test_serve_dial_prints_no_dialing_line_for_a_bad_url(plant, tmp_path, url):
    audit = tmp_path / "audit.jsonl"
    out = wsctl(
        "--json", "serve", "--profile", "ocpp16-charger", "--dial", url, "--certs", str(plant.certs),
        "--device", "dev", "--audit-log", str(audit), "--redial", "0", timeout=20,
    )  # fmt: skip
    assert _refused(out)["error"] == "usage"
    assert not audit.exists()
