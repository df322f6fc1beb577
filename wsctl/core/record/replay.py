"""The replay scheduler, sans-I/O: a recording in, a plan of timed sends out.

Theory of operation.  `build_plan(events, mode=...)` picks the messages the
tool sent (``dir == "out"``) and, between them, the answers the device gave;
each `Send` says when it is due *relative to an anchor*:

  original  anchor ``start``: the recorded gaps, divided by ``speed``, each gap
            capped at ``max_delay`` (tcpreplay's --maxsleep);
  fast      anchor ``start``, every send due at once (as fast as the
            connection takes them); ``loop_delay`` still separates loops;
  reply     anchor ``reply``: the send waits until the previous send's
            recorded number of answers arrived, then the recorded think time
            (last answer → next send, scaled and capped).  mitmproxy #5248's
            "wait for the device's reply before the next send".

The driver (`wsctl.net.replayer`) turns anchors into absolute deadlines with
`deadline()` and sleeps until each one, so timing errors never accumulate.
``loop=N`` repeats the sends N times, ``loop_delay`` seconds apart; the
expected answers repeat with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import UsageError
from wsctl.core.record.format import Event

MODES = ("original", "fast", "reply")
Message = str | bytes


@dataclass(frozen=True)
class Send:
    #: position in the plan, 0-based across loops
    index: int
    #: loop number, 0-based
    loop: int
    message: Message
    #: seconds after the anchor
    at: float
    #: "start" (replay start) or "reply" (when the previous send's answers arrived)
    anchor: str
    #: answers recorded after this send, before the next one
    expect: int
    #: the send's time in the recording
    recorded_t: float


@dataclass(frozen=True)
class Plan:
    mode: str
    sends: tuple[Send, ...]
    #: every recorded answer, in order, repeated per loop
    expected: tuple[Message, ...]
    #: for each expected answer: index of the send it followed (-1: before any send)
    after_send: tuple[int, ...]
    #: the device closed the recorded session (a close at the end is then no surprise)
    device_closed: bool = False

    @property
    def duration(self) -> float:
        """When the last send is due, for anchors that are all ``start``."""
        return max((s.at for s in self.sends if s.anchor == "start"), default=0.0)

    def context(self) -> list[str]:
        """For reports: what each expected answer followed."""
        out = []
        for index in self.after_send:
            if index < 0:
                out.append("connecting")
            else:
                message = self.sends[index].message
                text = message if isinstance(message, str) else f"<binary {len(message)} bytes>"
                out.append(
                    f"send {index + 1} {text[:60]!r}" if isinstance(message, str) else f"send {index + 1} {text}"
                )
        return out


def _check(mode: str, speed: float, max_delay: float | None, loop: int, loop_delay: float) -> None:
    if mode not in MODES:
        raise UsageError(f"unknown replay mode {mode!r}: choose {', '.join(MODES)}")
    if not speed > 0:
        raise UsageError("--speed must be greater than 0")
    if max_delay is not None and max_delay < 0:
        raise UsageError("--max-delay must not be negative")
    if loop < 1:
        raise UsageError("--loop must be at least 1")
    if loop_delay < 0:
        raise UsageError("--loop-delay must not be negative")


def build_plan(
    events: Iterable[Event],
    *,
    mode: str = "original",
    speed: float = 1.0,
    max_delay: float | None = None,
    loop: int = 1,
    loop_delay: float = 0.0,
    conn: int | None = None,
    keep: Callable[[Message], bool] | None = None,
) -> Plan:
    """The plan for replaying ``events`` (of connection ``conn``, default all, in order).

    ``keep``: which device messages count as answers (e.g. replies only, not
    telemetry, with `wsctl.core.profile.fields.is_reply`); default all.
    """
    _check(mode, speed, max_delay, loop, loop_delay)
    origin, sends, answers, device_closed = _collect(events, conn, keep)

    def gap(seconds: float) -> float:
        scaled = max(0.0, seconds) / speed
        return scaled if max_delay is None else min(scaled, max_delay)

    counts = [0] * len(sends)
    last_answer_t: list[float | None] = [None] * len(sends)
    for before, t, _ in answers:
        if before >= 0:
            counts[before] += 1
            last_answer_t[before] = t
    one_loop = _one_loop(sends, last_answer_t, origin, mode, gap)
    plan_sends: list[Send] = []
    span = (one_loop[-1][0] if one_loop else 0.0) + loop_delay
    for k in range(loop):
        for i, ((t, message), (at, anchor)) in enumerate(zip(sends, one_loop, strict=True)):
            if k and mode == "reply" and i == 0:
                # a new loop starts `loop_delay` after the last loop's answers
                at, anchor = loop_delay, "reply"
            elif k and anchor == "start":
                at += k * span if mode == "original" else k * loop_delay
            plan_sends.append(Send(len(plan_sends), k, message, at, anchor, counts[i], t))
    expected: list[Message] = []
    after: list[int] = []
    for k in range(loop):
        for before, _, message in answers:
            if before < 0 and k:
                continue  # a greeting comes once, on connecting
            expected.append(message)
            after.append(before + k * len(sends) if before >= 0 else -1)
    return Plan(mode, tuple(plan_sends), tuple(expected), tuple(after), device_closed)


def _collect(
    events: Iterable[Event], conn: int | None, keep: Callable[[Message], bool] | None
) -> tuple[float, list[tuple[float, Message]], list[tuple[int, float, Message]], bool]:
    """(origin, the tool's sends, the answers with the send index before each, whether the device closed)."""
    origin: float | None = None
    sends: list[tuple[float, Message]] = []
    answers: list[tuple[int, float, Message]] = []  # (send index before it, t, message)
    device_closed = False
    for event in events:
        if conn is not None and event.conn != conn:
            continue
        if event.kind == "open" and origin is None:
            origin = event.t
        elif event.kind == "close" and event.dir == "in":
            device_closed = True
        if not event.is_message:
            continue
        if origin is None:
            origin = event.t
        if event.dir == "out":
            sends.append((event.t, event.data))  # type: ignore[arg-type]
        elif event.dir == "in":
            if keep is None or keep(event.data):  # type: ignore[arg-type]
                answers.append((len(sends) - 1, event.t, event.data))  # type: ignore[arg-type]
    return origin or 0.0, sends, answers, device_closed


def _one_loop(
    sends: list[tuple[float, Message]],
    last_answer_t: list[float | None],
    origin: float,
    mode: str,
    gap: Callable[[float], float],
) -> list[tuple[float, str]]:
    """(at, anchor) of each send in one loop."""
    one_loop: list[tuple[float, str]] = []
    offset = 0.0
    for i, (t, _) in enumerate(sends):
        if mode == "fast":
            one_loop.append((0.0, "start"))
        elif mode == "original":
            offset += gap(t - (origin if i == 0 else sends[i - 1][0]))
            one_loop.append((offset, "start"))
        elif i == 0:
            one_loop.append((gap(t - origin), "start"))
        else:
            previous = last_answer_t[i - 1]
            one_loop.append((gap(t - (previous if previous is not None else sends[i - 1][0])), "reply"))
    return one_loop


def deadline(send: Send, *, start: float, reply_at: float | None) -> float:
    """Absolute time ``send`` is due: ``start`` is when the replay began,
    ``reply_at`` when the previous send's answers were all in (or gave up)."""
    if send.anchor == "reply":
        return (reply_at if reply_at is not None else start) + send.at
    return start + send.at


@dataclass(frozen=True)
class Reading:
    """What a device makes of a message the tool sends, by its profile."""

    #: the profile command the message runs (None: none the profile knows)
    command: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    #: why the message has no single reading (the proxy's gate: duplicate keys, ...)
    problems: tuple[str, ...] = ()

    @property
    def dangerous(self) -> bool:
        """Needs the user's confirmation: a dangerous command, or no telling which command."""
        return bool(self.problems) or bool(self.command is not None and self.command.dangerous)

    def describe(self) -> str:
        """`estop`, `set_speed speed=1200`, `ambiguous: duplicate key 'method'`, or ""."""
        if self.problems:
            return "ambiguous: " + "; ".join(self.problems)
        if self.command is None:
            return ""
        import json

        return " ".join(
            [self.command.key, *(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in self.params.items())]
        )


class OutgoingReader:
    """Reads tool → device messages as the device would (`DeviceCodec`), with
    the proxy gate's rules for messages that have more than one reading."""

    def __init__(self, profile: Any) -> None:
        from wsctl.core.profile.device_side import DeviceCodec

        self.codec = DeviceCodec(profile)

    def read(self, message: Message) -> Reading:
        from wsctl.core.profile.device_side import BadRequest, Request

        text: str | None = None
        if isinstance(message, str):
            text = message
        else:
            try:
                text = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                pass  # the codec says why; nothing to misread
        problems, item = self._problems(text) if text is not None else ([], None)
        if problems:
            return Reading(problems=tuple(problems))
        if item is None:
            item = self.codec.parse(message)
        self.codec.finish(getattr(item, "id", None))  # the next message may reuse the id
        command = item.command if isinstance(item, (Request, BadRequest)) else None
        return Reading(command, dict(item.params) if isinstance(item, Request) else {})

    def _problems(self, text: str) -> tuple[list[str], Any]:
        """(what makes ``text`` ambiguous, the codec's reading when it read it)."""
        from wsctl.core.gate import read_json, text_problems

        codec = self.codec
        if codec.text:
            return text_problems(text, codec.framing.separators), None
        try:
            doc, problems = read_json(text)
        except ValueError:
            return [], None  # not JSON: the codec's parse error
        if problems:
            return problems, None
        kinds = codec.kinds(doc)
        if len(kinds) > 1:
            return [f"it reads as {' and '.join(sorted(kinds))} at once"], None
        return [], codec.read(doc, text)
