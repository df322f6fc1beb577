"""The console's pure parts: what a typed line means, what Tab offers, what
is shown while a question is asked.  No I/O of its own, so each is tested
without a terminal; `connect` drives them."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable
from pathlib import Path

from wsctl.cli.support.complete import completions
from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput

CONSOLE_HELP = """\
console commands:
  /help                 this text
  /quit  (or Ctrl-D)    close the connection (1000) and leave
  /binary BASE64        send a binary message
  /ping                 ping the device and show the round-trip time
  /close [CODE [REASON]] close with a code and leave
  //text                send a line that starts with '/'
  /raw TEXT             send TEXT as is (also with a profile loaded)
  /mute                 hide (or show again) incoming messages; replies still show
  /filter REGEX         show only incoming messages matching REGEX; /filter alone: all
with a profile (--profile): `COMMAND name=value ...` runs a command, checked
first; /help COMMAND shows its parameters; Tab completes names; anything
that is not a command is refused unless sent with /raw.
anything else is sent as one text message"""


def history_path(env: Environment) -> Path:
    state = env.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "wsctl" / "console_history"


class ConsoleLine:
    """What one typed line means; pure, so it is tested without a terminal."""

    def __init__(
        self,
        kind: str,
        payload: str | bytes | None = None,
        code: int = 1000,
        reason: str = "",
        command: str | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.kind, self.payload, self.code, self.reason = kind, payload, code, reason
        self.command, self.args = command, args

    @classmethod
    def parse(cls, line: str, profile=None) -> ConsoleLine:
        if line.startswith("//"):
            return cls("send", line[1:])
        if not line.startswith("/"):
            return cls._profile_call(line, profile) if profile is not None else cls("send", line)
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        simple = {"/quit": "close", "/exit": "close", "/ping": "ping", "/mute": "mute"}
        if word in simple:
            return cls(simple[word])
        if word == "/help":
            return cls("help", command=rest or None)
        if word == "/raw":
            return cls("send", rest)
        if word == "/filter":
            if rest:
                try:
                    re.compile(rest)
                except re.error as exc:
                    raise InvalidInput(f"/filter: not a valid regex: {exc}") from None
            return cls("filter", payload=rest or None)
        if word == "/binary":
            try:
                return cls("send", base64.b64decode(rest, validate=True))
            except (binascii.Error, ValueError):
                raise InvalidInput("/binary expects base64, e.g. /binary AAECAw==") from None
        if word == "/close":
            return cls._close(rest)
        raise InvalidInput(f"unknown console command {word} (type /help)")

    @classmethod
    def _profile_call(cls, line: str, profile) -> ConsoleLine:
        import shlex

        # with a profile, a line is a command (by its key, checked before
        # sending); a typo must not reach the device as raw text
        first = line.split(None, 1)[0] if line.strip() else ""
        if first not in profile.commands:
            raise InvalidInput(
                f"no command {first!r} in profile {profile.id} (/help lists them; /raw TEXT sends a line as is)"
            )
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise InvalidInput(f"cannot parse the line: {exc}") from None
        return cls("call", command=words[0], args=tuple(words[1:]))

    @classmethod
    def _close(cls, rest: str) -> ConsoleLine:
        code_text, _, reason = rest.partition(" ")
        if code_text and not (code_text.isdigit() and (int(code_text) == 1000 or 3000 <= int(code_text) <= 4999)):
            raise InvalidInput("/close CODE must be 1000 or 3000-4999")
        return cls("close", code=int(code_text) if code_text else 1000, reason=reason)


class ConsoleView:
    """Which incoming messages the operator sees, and when.

    /mute hides incoming messages (replies to the operator's own commands and
    console notes still show); /filter REGEX shows only incoming lines that
    match.  While a question is asked (a dangerous command's confirmation)
    everything is held and shown after the answer, so the question is not
    scrolled away by 1 Hz telemetry; what is held is bounded.
    """

    HOLD_MAX = 1000

    def __init__(self, write: Callable[[str], None]) -> None:
        from collections import deque

        self.write = write
        self.muted = False
        self.pattern: re.Pattern[str] | None = None
        self._deque = deque
        self._held: deque[str] | None = None
        self.dropped = 0

    def incoming(self, line: str) -> bool:
        """Show a line from the device unless muted or filtered out; True if shown (or held)."""
        if self.muted or (self.pattern is not None and not self.pattern.search(line)):
            return False
        self.show(line)
        return True

    def show(self, line: str) -> None:
        if self._held is None:
            self.write(line)
            return
        if len(self._held) == self.HOLD_MAX:
            self.dropped += 1
        self._held.append(line)

    def toggle_mute(self) -> str:
        self.muted = not self.muted
        return "-- incoming messages hidden (/mute again to show them)" if self.muted else "-- incoming messages shown"

    def set_filter(self, regex: str | None) -> str:
        self.pattern = re.compile(regex) if regex else None
        return f"-- showing only incoming lines matching {regex!r}" if regex else "-- showing every incoming line"

    def hold(self) -> None:
        self._held = self._deque(maxlen=self.HOLD_MAX)
        self.dropped = 0

    def release(self) -> None:
        held, self._held = self._held or (), None
        if self.dropped:
            self.write(f"-- {self.dropped} earlier messages not shown while asking")
        for line in held:
            self.write(line)


def command_help(profile, name: str) -> str:
    if profile is None:
        return "-- no profile loaded (--profile NAME)"
    command = profile.command(name)
    if command is None:
        return f"-- no command {name!r}; commands: {', '.join(profile.commands)}"
    lines = [f"{command.key}  ({command.name} on the wire){'  DANGEROUS' if command.dangerous else ''}"]
    if command.summary:
        lines.append(f"  {command.summary}")
    lines.append(f"  usage: {command.usage()}")
    for param in command.params:
        lines.append(f"    {param.describe()}" + (f"  {param.description}" if param.description else ""))
    lines.append(f"  roles: {', '.join(command.roles)}; timeout {command.timeout:g} s")
    return "\n".join(lines)


class ProfileCompleter:
    """prompt_toolkit completer over `completions` (imported lazily with prompt_toolkit)."""

    def __new__(cls, profile):
        from prompt_toolkit.completion import Completer, Completion

        class _Completer(Completer):
            def get_completions(self, document, complete_event):
                text = document.text_before_cursor
                current = text.split(" ")[-1]
                for option in completions(profile, text):
                    yield Completion(option, start_position=-len(current))

        return _Completer()


def command_list(profile) -> str:
    if profile is None:
        return ""
    return f"\ncommands of {profile.id}: " + ", ".join(profile.commands)
