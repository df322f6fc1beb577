"""`wsctl serve --replay FILE`: a mock device answering from a recording."""

from __future__ import annotations

from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput


def replay_mode(
    env: Environment,
    replay_file: str,
    profile_name: str | None,
    ignore_rules: tuple[str, ...],
    speed: float,
    strict: bool,
    subprotocols: tuple[str, ...],
) -> tuple[Any, tuple[str, ...]]:
    """The connection handler and the subprotocols to accept.

    What the recording says it was — its profile (for matching by command and
    the protocol's error form) and its subprotocol — is used unless given.  A
    profile named by the recording is an installed one by plain name only: the
    recording came from elsewhere.
    """
    from wsctl.files.profiles import load_installed, load_profile
    from wsctl.files.recording_reader import open_recording
    from wsctl.net.mockserver import replay_handler

    header = open_recording(replay_file, strict=strict).header
    profile = None
    if profile_name:
        profile = load_profile(profile_name, environ=env.environ)
    elif header.profile:
        try:
            profile = load_installed(header.profile, environ=env.environ)
            env.info(f"replaying with profile {profile.id} (from the recording)")
        except InvalidInput as exc:
            env.warn(
                f"the recording names profile {header.profile!r}, which cannot be loaded ({exc.message}); matching messages only"
            )
    if profile is not None:
        subprotocols = subprotocols + tuple(p for p in profile.subprotocols if p not in subprotocols)
    if header.subprotocol and header.subprotocol not in subprotocols:
        subprotocols = subprotocols + (header.subprotocol,)

    def unmatched(conn: Any, message: str | bytes) -> None:
        from wsctl.cli.support.render import message_fields

        env.emit(
            {"event": "unmatched", "remote": getattr(conn, "remote", None), **message_fields(message)},
            f"unmatched request from {getattr(conn, 'remote', '?')}: {message!r:.200}",
        )

    handler = replay_handler(
        replay_file, profile=profile, ignore=ignore_rules, speed=speed, strict=strict, on_unmatched=unmatched
    )
    _warn_long_waits(env, handler.script, speed)  # type: ignore[attr-defined]
    return handler, subprotocols


def _warn_long_waits(env: Environment, script: Any, speed: float) -> None:
    """One warning, before serving, when the recording makes a client wait over a minute."""
    from wsctl.net.mockserver import LONG_GAP, long_waits

    waits = long_waits(script, speed)
    if waits:
        more = f" (and {len(waits) - 1} more)" if len(waits) > 1 else ""
        env.warn(
            f"the recording waits longer than {LONG_GAP:g} s: {waits[0]}{more}; "
            "serve --replay has no --max-delay: --replay-speed X divides every delay"
        )
