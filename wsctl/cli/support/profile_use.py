"""Client verbs speaking a device's profile: which profile, checked calls,
danger confirmation.  Everything here happens before anything is sent."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput, NotAuthorized, UsageError
from wsctl.core.inventory import DeviceEntry


class ProfileCache:
    """Loads each named profile once per command run."""

    def __init__(self, env: Environment, option: str | None) -> None:
        self.env = env
        self.option = option
        self._loaded: dict[str, Any] = {}

    def for_entry(self, entry: DeviceEntry) -> Any | None:
        name = self.option or entry.profile
        if name is None:
            return None
        if name not in self._loaded:
            from wsctl.files.profiles import load_profile

            self._loaded[name] = load_profile(name, environ=self.env.environ)
        return self._loaded[name]

    def require(self, entry: DeviceEntry) -> Any:
        profile = self.for_entry(entry)
        if profile is None:
            raise UsageError(
                f"{entry.name}: a command needs the device's profile",
                hint='--profile NAME (see `wsctl profile list`), or `profile = "NAME"` for the device in the inventory; --raw sends a message as is',
            )
        return profile


def apply_profile_transport(url: str, kwargs: dict[str, Any], profile: Any) -> tuple[str, dict[str, Any]]:
    """The profile's subprotocols unless the user chose some; its path when the URL has none."""
    from wsctl.core.profile.fields import profile_url

    if not kwargs.get("subprotocols") and profile.subprotocols:
        kwargs = {**kwargs, "subprotocols": tuple(profile.subprotocols)}
    return profile_url(url, profile), kwargs


def prepare_call(
    env: Environment, profile: Any, command_key: str, assignments: tuple[str, ...] | list[str]
) -> tuple[Any, dict[str, Any]]:
    """The command and its checked parameters, or InvalidInput (exit 8) with usage."""
    from wsctl.core.profile.codec import bind_params, parse_assignments

    command = profile.command(command_key)
    if command is None:
        from wsctl.core.suggest import did_you_mean

        raise InvalidInput(
            f"profile {profile.id} has no command {command_key!r}{did_you_mean(command_key, profile.commands)}",
            hint=f"commands: {', '.join(profile.commands)} (wsctl profile show {profile.id})",
        )
    try:
        raw = parse_assignments(assignments)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, hint=f"usage: {command.usage()}") from None
    return command, bind_params(command, raw, from_text=True)


def confirm_danger(env: Environment, command: Any, params: dict[str, Any], devices: list[str], yes: bool) -> None:
    """Dangerous commands run only with --yes or a typed confirmation on a terminal."""
    if not command.dangerous or yes:
        return
    where = ", ".join(devices)
    text = command.confirm or f"{command.key} is marked dangerous"
    if not env.stdin_isatty:
        raise NotAuthorized(
            f"{command.key} is dangerous ({text}); nothing was sent", hint="confirm with --yes in scripts"
        )
    call = " ".join([command.key, *(f"{k}={v}" for k, v in params.items())])
    # the profile's confirm text may already end in a question; ask once, naming what and where
    if not click.confirm(f"{text.rstrip()}\n  -> {call} on {where}", default=False, err=True):
        raise NotAuthorized(f"{command.key} not confirmed; nothing was sent")


def reply_fields(reply: Any) -> dict[str, Any]:
    return {"command": reply.command.key, "reply": reply.payload}


def reply_human(reply: Any, *, compact: bool = False) -> str:
    """The reply for people: indented JSON alone, one compact line in fleets and scripts."""
    import json

    payload = reply.payload
    if isinstance(payload, str):
        return payload
    if compact:
        return json.dumps(payload, ensure_ascii=False, separators=(", ", ": "))
    return json.dumps(payload, indent=2, ensure_ascii=False)


class EventReporter:
    """What arrives beside the replies during `send` and `run`: telemetry,
    device requests (already answered) and messages that matched nothing.

    With -v they go to stderr — stdout carries one result line per command —
    as watch-style lines, or JSON lines with --json; by default stderr stays
    quiet on success (docs/client-server.md), so a script's stderr does not
    depend on what the device happened to push before the reply.  Messages
    that matched nothing are kept either way, so a timeout can say what did
    arrive.
    """

    def __init__(self, env: Environment, device: str) -> None:
        self.env = env
        self.device = device
        self.strays: list[str] = []

    def __call__(self, item: Any) -> None:
        import json

        from wsctl.cli.support.render import event_line, event_record

        record = event_record(self.device, item)
        if record.get("kind") == "unrecognised":
            self.strays.append(record.get("reason") or "unrecognised")
        if self.env.verbosity < 1:
            return
        human = event_line(record, show_device=False, prefix=f"-- {self.device}")
        record.pop("fields_text", None)
        # the decoded event, not the raw message: the raw one is in a recording
        for key in ("direction", "type", "data"):
            record.pop(key, None)
        if self.env.json:
            self.env.stderr.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        else:
            self.env.stderr.write(human + "\n")
        self.env.stderr.flush()

    def explain(self, exc: Any) -> Any:
        """A timeout that says what arrived instead of the reply."""
        if self.strays:
            last = f"; last: {self.strays[-1]}" if len(self.strays) > 1 else ""
            exc.message = (
                f"{exc.message} ({len(self.strays)} message(s) matched nothing; first: {self.strays[0]}{last})"
            )
        return exc
