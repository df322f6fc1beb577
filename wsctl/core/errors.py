"""The exception hierarchy every layer raises.

Each class carries its exit code, so the CLI maps errors to exit codes in one
place (`wsctl.cli.support.errors`) without knowing where they came from.  Messages are
one line, written for the operator: what happened, and where possible what to do.
"""

from __future__ import annotations

from wsctl.core.exit_table import ExitCode


class WsctlError(Exception):
    """Base of every error wsctl raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR
    #: a finer, stable reason within the exit code (``store``, ``password`` ...),
    #: `cause` in JSON output; docs/exit-codes.md lists every value
    cause: str | None = None

    @property
    def kind(self) -> str:
        """`error` in JSON output: always the exit code's name in the table
        (`wsctl exit-codes`), so a script needs one vocabulary."""
        return self.exit_code.name.lower()

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(WsctlError):
    exit_code = ExitCode.USAGE


class InvalidInput(WsctlError):
    """A file, parameter, certificate or profile that does not parse or validate."""

    exit_code = ExitCode.INVALID


class StoreError(WsctlError):
    """The PKI store is missing, corrupted, or refuses the operation."""

    cause = "store"


class RegistryError(WsctlError):
    """The hub registry cannot be read or written: busy beyond its wait, disk full, I/O error."""

    cause = "registry"


class PasswordError(WsctlError):
    """A passphrase is wrong or missing."""

    cause = "password"


class ConnectError(WsctlError):
    exit_code = ExitCode.CONNECT


class TLSError(WsctlError):
    exit_code = ExitCode.TLS
    #: the device wants a client certificate and we sent none: the CLI adds
    #: a hint naming the operators it could use
    wants_client_certificate = False


class HandshakeRejected(WsctlError):
    exit_code = ExitCode.HANDSHAKE

    def __init__(self, message: str, *, status: int | None = None, body: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body = body


class Timeout(WsctlError):
    exit_code = ExitCode.TIMEOUT
    # what did arrive before the time ran out (`send --expect N`), printed before the failure
    partial: list[str | bytes] | None = None


class DeviceError(WsctlError):
    """The device answered with an error, or an expectation on its reply failed."""

    exit_code = ExitCode.DEVICE_ERROR


class NotAuthorized(WsctlError):
    exit_code = ExitCode.NOT_AUTHORIZED


class ConnectionClosed(WsctlError):
    exit_code = ExitCode.CLOSED

    def __init__(self, message: str, *, code: int | None = None, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.reason = reason


class Interrupted(WsctlError):
    """SIGINT or SIGTERM; exit code 130 or 143."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.exit_code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        super().__init__(self.kind)
