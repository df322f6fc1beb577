"""The one table of wsctl exit codes (DESIGN.md section 7).

Scripts branch on these numbers, so they never change meaning once shipped.
`docs/exit-codes.md` shows the same table; a test keeps them in step.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    CONNECT = 3
    TLS = 4
    HANDSHAKE = 5
    TIMEOUT = 6
    DEVICE_ERROR = 7
    INVALID = 8
    NOT_AUTHORIZED = 9
    CLOSED = 10
    INTERRUPTED = 130
    TERMINATED = 143


DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "error (bad input, store problem, anything not listed below)",
    ExitCode.USAGE: "usage: unknown option, missing argument",
    ExitCode.CONNECT: "cannot connect: refused, unreachable, DNS failure",
    ExitCode.TLS: "TLS failure: unknown CA, name mismatch, expired/revoked, client certificate, pin",
    ExitCode.HANDSHAKE: "WebSocket handshake rejected (HTTP status other than 101)",
    ExitCode.TIMEOUT: "timeout: no reply, connect or handshake took too long",
    ExitCode.DEVICE_ERROR: "device reported an error, or an expectation failed",
    ExitCode.INVALID: "invalid profile, parameter, certificate or file",
    ExitCode.NOT_AUTHORIZED: "dangerous command not confirmed, or not authorized",
    ExitCode.CLOSED: "connection closed unexpectedly",
    ExitCode.INTERRUPTED: "interrupted (SIGINT, Ctrl-C)",
    ExitCode.TERMINATED: "terminated (SIGTERM)",
}
