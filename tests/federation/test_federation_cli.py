"""`wsctl hub --broker ...` as a user meets it: one line and the right exit
code for every mistake, at start, before any device is admitted."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_in_process
from federation_helpers import PW, SITE, free_port, start_broker

from wsctl.core.exit_table import ExitCode

BROKER = ("--broker", "mqtts://localhost:1", "--hub-id", "hub-a", "--site", SITE)


def hub(store, *args: str, device: str = "hub-a"):
    """The hub in this process, its registry next to the store (never ./hub.db)."""
    return run_in_process(
        "hub",
        "--listen",
        "127.0.0.1:0",
        "--registry",
        str(Path(store).parent / f"cli-{device}.db"),
        "--certs",
        str(store),
        "--device",
        device,
        *args,
        environ={"WSCTL_PASSWORD": "pw"},
    )


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--hub-id", "hub-a"), ExitCode.USAGE, "--hub-id needs --broker URL"),
        (("--site", SITE), ExitCode.USAGE, "--site needs --broker URL"),
        (("--mqtt-command-role", "engineer"), ExitCode.USAGE, "--mqtt-command-role needs --broker URL"),
        (("--broker", "mqtts://localhost:1"), ExitCode.USAGE, "--broker needs --hub-id ID and --site SITE"),
        (("--broker", "mqtt://localhost:1", "--hub-id", "hub-a", "--site", SITE), ExitCode.USAGE, "--allow-plain-mqtt"),
        (("--broker", "https://localhost", "--hub-id", "hub-a", "--site", SITE), ExitCode.INVALID, "mqtts://HOST"),
        (("--broker", "mqtts://u:p@localhost", "--hub-id", "hub-a", "--site", SITE), ExitCode.INVALID, "certificate"),
        (("--broker", "mqtts://localhost", "--hub-id", "hub/a", "--site", SITE), ExitCode.INVALID, "hub id 'hub/a'"),
        (("--broker", "mqtts://localhost", "--hub-id", "hub-a", "--site", "plant+1"), ExitCode.INVALID, "site"),
        ((*BROKER, "--mqtt-command-role", "root"), ExitCode.USAGE, "one of observer"),
    ],
)
def test_mistakes_are_one_line_and_their_exit_code(fed_pki, args, code, words):
    done = hub(fed_pki.path, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert words in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_broker_is_exit_3(fed_pki):
    done = hub(fed_pki.path, "--broker", f"mqtts://localhost:{free_port()}", "--hub-id", "hub-a", "--site", SITE)
    assert done.returncode == ExitCode.CONNECT, done.stderr
    assert "Connection refused" in done.stderr and done.stderr.count("\n") <= 2


@pytest.fixture(scope="module")
def broker(fed_pki, tmp_path_factory):
    started = start_broker(fed_pki, tmp_path_factory.mktemp("broker"))
    yield started
    started.proc.terminate()
    started.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """Another plant's store: its CA is not ours."""
    from wsctl.pki.store import Store

    store = Store(tmp_path_factory.mktemp("stranger") / "store")
    store.init(name="Other CA", key_type="p256", password=PW)
    store.issue_device("hub-a", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    return store


def test_a_broker_whose_certificate_is_not_the_plants_is_refused(broker, stranger):
    done = hub(stranger.path, "--broker", broker.url, "--hub-id", "hub-a", "--site", SITE)
    assert done.returncode == ExitCode.CONNECT, done.stderr
    assert "certificate is not trusted" in done.stderr and "Traceback" not in done.stderr


def test_a_hub_the_acl_does_not_name_is_refused_at_start(fed_pki, broker):
    # a charger's certificate (CN CP-1) used as a hub: the broker lets it in, its ACL lets it write nothing
    done = hub(fed_pki.path, "--broker", broker.url, "--hub-id", "CP-1", "--site", SITE, device="CP-1")
    assert done.returncode == ExitCode.CONNECT, done.stderr
    assert "refused hub CP-1's state on wsctl/v1/plant-1/hubs/CP-1/state: Not authorized" in done.stderr, done.stderr
    assert "ACL" in done.stderr and "Traceback" not in done.stderr
