"""`wsctl demo`: the mission on a throwaway PKI, on loopback, in seconds.

Each step states what it proves and is checked; the demo exits 0 only when
every step did what it should (a refusal that did not happen is a failure).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import WsctlError


class DemoFailed(WsctlError):
    cause = "demo"


class Steps:
    """Runs and reports demo steps: numbered lines on a terminal, JSON lines with --json."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.number = 0
        self.failed: list[str] = []

    def record(self, title: str, ok: bool, detail: str, elapsed: float) -> None:
        self.number += 1
        if not ok:
            self.failed.append(title)
        mark = "ok " if ok else "FAIL"
        self.env.emit(
            {"step": self.number, "title": title, "ok": ok, "detail": detail, "elapsed": round(elapsed, 4)},
            f"{self.number:2}. [{mark}] {title}\n      {detail}",
        )

    def run(self, title: str, fn: Callable[[], str]) -> Any:
        start = time.monotonic()
        try:
            detail = fn()
        except WsctlError as exc:
            self.record(title, False, exc.message, time.monotonic() - start)
            return None
        self.record(title, True, detail, time.monotonic() - start)
        return detail

    async def arun(self, title: str, fn: Callable[[], Awaitable[str]]) -> Any:
        start = time.monotonic()
        try:
            detail = await fn()
        except WsctlError as exc:
            self.record(title, False, exc.message, time.monotonic() - start)
            return None
        self.record(title, True, detail, time.monotonic() - start)
        return detail


def expect_refusal(what: str, exc_type: type[WsctlError], exc: WsctlError | None) -> str:
    """A step that must fail: its success is the refusal, with the right error."""
    if exc is None:
        raise DemoFailed(f"{what} was NOT refused")
    if not isinstance(exc, exc_type):
        raise DemoFailed(f"{what} was refused for the wrong reason: {exc.kind}: {exc.message}")
    return f"refused as it should be (exit {int(exc.exit_code)}): {exc.message}"


@click.command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the PKI, audit log and recording in DIR (the passphrase goes to DIR/passphrase, 0600).",
)
@click.pass_obj
def demo(env: Environment, keep: str | None) -> int:
    """Run the whole tool on a throwaway PKI, on loopback only.

    Provisions a plant PKI (root + issuing CA, a device, three operators),
    revokes one operator, starts a simulated conveyor (shipped profile
    `conveyor`) with mutual TLS, runs commands as an engineer, shows a command
    refused for its range (nothing sent) and one refused for the operator's
    role (audited), watches telemetry, and shows that a client without a
    certificate, a revoked operator and a device reached by the wrong name are
    refused, each with the error and exit code scripts would see. Then it
    records a session, shows the recording, replays it against a fresh
    simulator (the answers must match) and serves it as a mock device. Last,
    a hub: a simulated charger dials in with its device certificate, the
    engineer resets it through the hub by name, an observer is refused, and a
    charger presenting another station's certificate is turned away.
    --keep DIR keeps the PKI, the audit log and the recording.

    \b
    EXAMPLES
      wsctl demo
      wsctl --json demo | jq -r 'select(.ok|not).title'
      wsctl demo --keep ./demo-pki
    """
    import tempfile

    from wsctl.cli.support.runtime import run_async

    steps = Steps(env)
    if keep:
        root = Path(keep)
        if root.exists() and any(root.iterdir()):
            raise click.UsageError(f"--keep {keep}: directory is not empty")
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _run(env, steps, root, run_async, kept=True)
    with tempfile.TemporaryDirectory(prefix="wsctl-demo-") as tmp:
        return _run(env, steps, Path(tmp), run_async, kept=False)


def _run(env: Environment, steps: Steps, root: Path, run_async, *, kept: bool) -> int:
    import secrets

    from wsctl.pki.store import Store

    password = secrets.token_urlsafe(24).encode()
    if kept:
        secret = root / "passphrase"
        secret.write_bytes(password + b"\n")
        secret.chmod(0o600)
    store = Store(root / "certs")

    def provision() -> str:
        store.init(name="Demo Plant CA", password=password)
        store.issue_device(
            "conveyor-1", dns=["localhost"], ips=["127.0.0.1", "::1"], password=password, key_password=password
        )
        store.issue_operator("alice", role="engineer", password=password, key_password=password)
        store.issue_operator("bob", role="observer", password=password, key_password=password)
        store.issue_operator("mallory", role="operator", password=password, key_password=password)
        return (
            f"root + issuing CA (EC P-256, keys encrypted), device conveyor-1 (SAN localhost, 127.0.0.1, ::1), "
            f"operators alice (engineer), bob (observer), mallory (operator) in {store.path}"
        )

    def revoke() -> str:
        entry = store.revoke("mallory", reason="keyCompromise", password=password)
        return f"mallory (serial {entry.serial:x}) revoked; ca/crl.pem and ca/crl.der re-issued"

    def verify() -> str:
        from wsctl.pki.inspect import verify_leaf

        result = verify_leaf(
            store.leaf_cert(store.find("conveyor-1")),
            root=store.root_cert(),
            issuing=store.issuing_cert(),
            crl=store.load_crl(),
            host="127.0.0.1",
            purpose="device",
        )
        return f"conveyor-1 passes {', '.join(result['checks'])}; fingerprint {result['fingerprint']}"

    if steps.run("provision a plant PKI", provision) is None:
        return _finish(env, steps, store, kept)
    steps.run("revoke an operator", revoke)
    steps.run("verify the device certificate as a peer would", verify)
    from wsctl.cli.demo.steps import network_steps

    run_async(network_steps, steps, store, password, root)
    return _finish(env, steps, store, kept)


def _finish(env: Environment, steps: Steps, store, kept: bool) -> int:
    if kept:
        env.info(
            f"kept: the PKI in {store.path} (passphrase in {store.path.parent / 'passphrase'}), "
            f"audit log {store.path.parent / 'audit.jsonl'}, recording {store.path.parent / 'session.jsonl'}"
        )
    if steps.failed:
        env.info(f"demo: {len(steps.failed)} step(s) failed: {', '.join(steps.failed)}")
        return 1
    env.info(f"demo: all {steps.number} steps did what they should")
    return 0
