"""The one place where exceptions become exit codes and error lines.

wsctl's own errors carry their exit code.  Foreign exceptions that can reach the
top (OS errors, KeyboardInterrupt inside trio's exception groups) are translated
here; everything else is a bug and is reported as such with exit 1.
"""

from __future__ import annotations

from typing import IO

from wsctl.core.errors import Interrupted, WsctlError
from wsctl.core.exit_table import ExitCode


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_leaves(sub))
        return out
    return [exc]


def classify(exc: BaseException) -> tuple[ExitCode, str | None, str]:
    """(exit code, cause, one-line message) for any exception that reached the top.

    The JSON ``error`` is always the exit code's name; ``cause`` refines it
    (docs/exit-codes.md lists both vocabularies).
    """
    leaves = _leaves(exc)
    # an interrupt wins over whatever else the cancellation shook loose
    for leaf in leaves:
        if isinstance(leaf, KeyboardInterrupt):
            return ExitCode.INTERRUPTED, None, "interrupted"
        if isinstance(leaf, Interrupted):
            return leaf.exit_code, None, leaf.message
    leaf = next((x for x in leaves if isinstance(x, WsctlError)), leaves[0])
    if isinstance(leaf, WsctlError):
        return leaf.exit_code, leaf.cause, leaf.message
    if isinstance(leaf, PermissionError):
        return ExitCode.ERROR, "os", f"permission denied: {leaf.filename or leaf}"
    if isinstance(leaf, FileNotFoundError):
        return ExitCode.ERROR, "os", f"no such file: {leaf.filename or leaf}"
    if isinstance(leaf, BrokenPipeError):
        return ExitCode.ERROR, "os", "output closed"
    if isinstance(leaf, OSError) and leaf.errno == 28:  # ENOSPC
        return ExitCode.ERROR, "os", f"disk full: {leaf.filename or leaf}"
    if isinstance(leaf, OSError):
        return ExitCode.ERROR, "os", str(leaf)
    return ExitCode.ERROR, "internal", f"internal error: {type(leaf).__name__}: {leaf}"


def error_object(code: ExitCode, cause: str | None, message: str, hint: str | None = None) -> dict:
    """The one shape of an error in JSON output (stable keys)."""
    obj: dict = {"error": code.name.lower(), "message": message, "exit_code": int(code)}
    if cause:
        obj["cause"] = cause
    if hint:
        obj["hint"] = hint
    return obj


def one_line(text: str) -> str:
    """``text`` with control and other unprintable characters escaped: a message
    quoting a file from elsewhere (a profile key holding a newline or a
    terminal escape) stays one line and cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def report(exc: BaseException, stderr: IO[str], *, as_json: bool) -> ExitCode:
    import os

    from wsctl.cli.support.store_files import client_certificate_hint

    client_certificate_hint(exc, dict(os.environ))
    code, cause, message = classify(exc)
    message = one_line(message)
    hint = getattr(exc, "hint", None)
    hint = one_line(hint) if isinstance(hint, str) else hint
    if as_json:
        import json  # here, not at the top: start-up of one-shot verbs

        stderr.write(json.dumps(error_object(code, cause, message, hint)) + "\n")
    else:
        if code not in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            stderr.write(f"wsctl: error: {message}\n")
            if hint:
                stderr.write(f"wsctl: hint: {hint}\n")
    stderr.flush()
    return code
