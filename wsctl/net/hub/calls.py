"""One operator's call to a device held by this hub: authorization by role,
per-device serialisation, timeout, queueing, audit — the same for a local
operator (`operator_link`) and for one connected to another hub (federation).
Returns a `CallOutcome`; nothing here writes a protocol frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, Timeout
from wsctl.core.hub.outcome import CallOutcome, refused
from wsctl.core.profile.events import Reply
from wsctl.core.profile.model import Command
from wsctl.core.roles import allowed
from wsctl.net.hub.device_link import Busy
from wsctl.registry.queue import QueueFull

#: seconds the hub waits for a device beyond the command's own timeout, so the
#: operator's tool (same profile, same timeout) gives up first and exits 6
TIMEOUT_MARGIN = 2.0
#: who may start a certificate renewal through any command
CERTIFICATE_ROLES = frozenset({"security-admin", "supervisor"})


@dataclass(frozen=True)
class Caller:
    """Who calls: the operator's name and role (from their certificate, or as
    the hub they are connected to vouches), and the device."""

    operator: str
    role: str | None
    device_id: str
    queue_ttl: float | None = None


def outcome_of(reply: Reply) -> CallOutcome:
    if reply.error is not None:
        return CallOutcome(
            "device-error",
            code=reply.error.code,
            message=reply.error.message,
            detail=reply.error.detail,
            elapsed=reply.elapsed,
        )
    return CallOutcome(
        "ok" if reply.ok else "failed-check", payload=reply.payload, message=reply.failed_check, elapsed=reply.elapsed
    )


async def execute(hub: Any, caller: Caller, command: Command, params: dict[str, Any]) -> CallOutcome:
    """Run one call and audit it; never raises for what a device or a caller does."""
    signer = hub.signer if _requests_a_csr(params) else None
    if signer is not None:  # the renewal this trigger starts (wsctl.net.hub.cert_manager)
        signer.triggering(caller.device_id)
    outcome = await _execute(hub, caller, command, params)
    if signer is not None:
        signer.triggered(hub, caller.device_id, caller.operator, outcome.payload if outcome.outcome == "ok" else None)
    detail = outcome.message
    if outcome.outcome == "device-error":
        detail = f"{outcome.code} {outcome.message}"
    hub.audit_call(caller, command.key, params, outcome.outcome, detail, seconds=outcome.elapsed)
    return outcome


async def _execute(hub: Any, caller: Caller, command: Command, params: dict[str, Any]) -> CallOutcome:
    device_id = caller.device_id
    if not allowed(caller.role, command.allowed_roles):
        return refused("not_authorized", f"hub: role {caller.role or 'none'} may not run {command.key}")
    if _requests_a_csr(params) and caller.role not in CERTIFICATE_ROLES:
        # a trigger that starts a renewal (new key, signing, the old certificate
        # revoked) is a security operation, whatever the command's roles say: 2.0.1
        # has one TriggerMessage for status reads and renewals alike
        return refused(
            "not_authorized", f"hub: role {caller.role or 'none'} may not start a certificate renewal ({command.key})"
        )
    if (not_approved := hub.not_approved(device_id)) is not None:
        return refused("device", not_approved)
    link = hub.links.get(device_id)
    if link is not None and (plain := over_plain_ws(link.security_profile, command, params)):
        return refused("device", plain)
    if link is None:
        if caller.queue_ttl:
            # a profile 1 device may come back over TLS: checked again on delivery
            return await _queued(hub, caller, command, params)
        return refused("device", hub.offline_text(device_id), "offline")
    timeout = command.timeout + TIMEOUT_MARGIN
    try:
        return outcome_of(await link.call(command, params, timeout=timeout))
    except Busy as exc:
        return refused("device", exc.message, "busy")
    except Timeout:
        return refused("device", f"timeout: {device_id} did not answer {command.name} within {timeout:g} s", "timeout")
    except ConnectionClosed:
        # never queued again: the device may have run it before it went
        return refused("device", f"{device_id} disconnected before answering {command.name}", "offline")


def _requests_a_csr(params: dict[str, Any]) -> bool:
    """A trigger of a CSR (1.6 ExtendedTriggerMessage, 2.0.1 TriggerMessage: Sign...Certificate)."""
    return any(isinstance(v, str) and v.startswith("Sign") and v.endswith("Certificate") for v in params.values())


def over_plain_ws(security_profile: int, command: Command, params: dict[str, Any]) -> str | None:
    """Why ``command`` may not go to a device connected with ``security_profile``
    (a certificate command over plain ws: anyone on the path could swap the
    certificate), or None.  Checked for a call, and for a queued call when it
    is delivered (on the connection the device came back with)."""
    if security_profile < 2 and _touches_certificates(command, params):
        return f"{command.name} is refused over security profile {security_profile} (plain ws): use TLS"
    return None


def _touches_certificates(command: Command, params: dict[str, Any]) -> bool:
    from wsctl.net.hub.cert_manager import CERTIFICATE_COMMANDS

    return command.name in CERTIFICATE_COMMANDS or _requests_a_csr(params)


async def _queued(hub: Any, caller: Caller, command: Command, params: dict[str, Any]) -> CallOutcome:
    assert caller.queue_ttl is not None
    try:
        waiter = hub.enqueue(caller, command, params, caller.queue_ttl)
    except QueueFull as exc:
        return refused("device", exc.message, "busy")
    expired = refused("device", f"{caller.device_id} did not come back within {caller.queue_ttl:g} s", "expired")
    with trio.move_on_after(caller.queue_ttl + command.timeout + TIMEOUT_MARGIN):
        delivered = await waiter.wait()
        if isinstance(delivered, CallOutcome):  # delivered by another hub of the federation
            return delivered
        return outcome_of(delivered) if isinstance(delivered, Reply) else expired
    return expired
