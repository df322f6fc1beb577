"""What one-shot verbs import (issue 14 goal 3): import checks, not timing.

Each verb runs as a real process (a real `wsctl serve --echo` with mutual TLS
for `send`) under a small wrapper that writes `sys.modules` at exit, so what
is checked is exactly what the verb's process loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from client_helpers import PASSWORD

# runs the CLI as `python -m wsctl` does and records every module loaded by the end
PROBE = """
import atexit, os, sys
def _write(modules):  # json is imported after the list is taken: the verb's own use of it is what counts
    import json
    open(os.environ["MODULES_OUT"], "w").write(json.dumps(modules))
atexit.register(lambda: _write(sorted(sys.modules)))
from wsctl.cli.main import main
main()
"""

#: a single-URL raw send uses none of these (docs/performance.md, "Start-up")
NOT_ON_A_RAW_SEND = (
    "cryptography",
    "tomllib",
    "wsctl.core.inventory",
    "wsctl.core.profile",
    "wsctl.net.server",
    "wsctl.net.serverconn",
    "wsctl.net.session",
    "wsctl.pki",
)

#: what only a failure, a keepalive or JSON output needs (they are imported where used)
ONLY_WHEN_NEEDED = ("json", "wsctl.net.tlserrors", "wsctl.net.upgrade_answer", "wsctl.net.keepalive")


def loaded_modules(tmp_path, *args: str, expect_failure: bool = False) -> set[str]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "WSCTL_PASSWORD": PASSWORD, "MODULES_OUT": str(out), "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert (done.returncode != 0) == expect_failure, done.stderr
    return set(json.loads(out.read_text()))


def offending(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_a_raw_send_to_one_url_imports_no_inventory_profile_server_or_cryptography(tmp_path, plant, echo_server):
    modules = loaded_modules(tmp_path, "send", echo_server.url, *plant.op("alice"), "--raw", "x")
    assert "wsctl.net.websocket" in modules  # it did connect
    # trio-websocket (and the importlib.metadata lookup it made at import) is gone from the path
    # the store's CRL is checked (docs/tls.md): its date is read from its DER by two small
    # modules of wsctl.pki, not by cryptography
    assert offending(modules, (*NOT_ON_A_RAW_SEND, "trio_websocket", "importlib.metadata")) == [
        "wsctl.pki",
        "wsctl.pki.crlinfo",
        "wsctl.pki.csr_der",
    ]
    assert offending(modules, ONLY_WHEN_NEEDED) == []


def test_a_failed_send_and_json_output_do_load_what_they_need(tmp_path, plant, echo_server):
    refused = loaded_modules(
        tmp_path, "--json", "send", echo_server.url.replace("wss:", "ws:"), "--raw", "x", expect_failure=True
    )
    assert "json" in refused and "wsctl.net.tlserrors" not in refused  # a usage error: no connection tried
    port = echo_server.url.rsplit(":", 1)[1].strip("/")
    failed = loaded_modules(tmp_path, "send", f"wss://127.0.0.1:{port}/", "--raw", "x", expect_failure=True)
    assert "wsctl.net.tlserrors" in failed or "wsctl.net.upgrade_answer" in failed


def test_the_check_sees_profile_show_load_the_profile_machinery(tmp_path):
    # the same probe on a verb that does need them: the check above can fail
    modules = loaded_modules(tmp_path, "profile", "show", "conveyor")
    assert offending(modules, ("wsctl.core.profile.loader", "wsctl.core.profile.model", "tomllib"))


def test_certs_list_imports_no_cryptography(tmp_path, plant):
    modules = loaded_modules(tmp_path, "certs", "--dir", str(plant.certs), "list")
    assert "wsctl.pki.store" in modules
    assert offending(modules, ("cryptography", "trio", "ssl")) == []


def test_profile_list_reads_summaries_without_loading_profiles(tmp_path):
    modules = loaded_modules(tmp_path, "profile", "list")
    assert "wsctl.files.profiles" in modules
    assert offending(modules, ("wsctl.core.profile.loader", "wsctl.core.profile.model")) == []
