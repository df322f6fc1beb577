"""The scenario file (`wsctl-scenario/1`, TOML): named cases of steps.

Every error names the file and the field at fault in one line, like the
profile loader: `pack.toml: cases[2].steps[1].expect./speed: unknown test 'minimum'`.
docs/testing.md describes the format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from wsctl.core.errors import InvalidInput
from wsctl.core.exit_table import ExitCode
from wsctl.core.pointer import split
from wsctl.core.profile.format import PLAIN_NAME
from wsctl.core.profile.params import finite
from wsctl.core.scenario.checks import (
    CheckError,
    Expectation,
    as_text,
    bounded_regex,
    compile_expectation,
    substitute,
    variables_in,
)
from wsctl.core.toml_text import parse_toml

FORMAT = "wsctl-scenario/1"
ACTIONS = ("send", "raw", "wait", "sleep")
STEP_KEYS = {*ACTIONS, "params", "expect", "answer", "save", "refused", "timeout", "name"}
#: what a `refused` step may expect: the exit kinds a failed step can end in
REFUSAL_KINDS = tuple(
    code.name.lower()
    for code in ExitCode
    if code not in (ExitCode.OK, ExitCode.USAGE, ExitCode.INTERRUPTED, ExitCode.TERMINATED)
)
#: wait for an event this long unless the step says
WAIT_TIMEOUT = 10.0
#: no step waits longer than a day: a larger number is a typo (ms for s), not a plan
MAX_SECONDS = 86400


@dataclass(frozen=True)
class Save:
    name: str
    pointer: str
    #: "message": the reply or event payload; "answer": what wsctl answered a device request with
    source: str = "message"


@dataclass(frozen=True)
class Refusal:
    kind: str
    #: a regex the error message must contain, or None
    message: str | None = None


@dataclass(frozen=True)
class Step:
    number: int
    action: str
    #: command key (send), message text (raw), event key or name (wait), seconds (sleep)
    target: Any
    params: dict[str, Any] = field(default_factory=dict)
    expect: tuple[Expectation, ...] = ()
    answer: tuple[Expectation, ...] = ()
    save: tuple[Save, ...] = ()
    refused: Refusal | None = None
    timeout: float | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return f"step {self.number} ({self.name})"
        target = (
            self.target
            if self.action != "raw"
            else (self.target if len(self.target) <= 40 else self.target[:37] + "...")
        )
        return f"step {self.number} ({self.action} {target})"

    @property
    def waits_for_reply(self) -> bool:
        """A raw message is only answered-for when the step checks or keeps something."""
        return self.action != "raw" or bool(self.expect or self.save)


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    version: str
    profile: str | None
    variables: dict[str, Any]
    cases: tuple[Case, ...]
    source: str
    description: str = ""


def check_plain(value: Any, fail: Any, path: str = "") -> None:
    """Raise ``fail(path, kind)`` for the first TOML date/time in ``value``."""
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        raise fail(path, "date or time")
    if isinstance(value, dict):
        for key, item in value.items():
            check_plain(item, fail, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_plain(item, fail, f"{path}[{index}]")


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> InvalidInput:
        return InvalidInput(f"{self.source}: {where}: {message}", hint="the format: docs/testing.md")

    def table(self, value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a table")
        unknown = sorted(set(value) - allowed) if allowed is not None else []
        if unknown and allowed is not None:
            raise self.fail(f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(allowed))})")
        return value

    @overload
    def text(self, table: dict[str, Any], key: str, where: str, *, required: Literal[True]) -> str: ...

    @overload
    def text(self, table: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None: ...

    def text(self, table: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where}.{key}", "expected a non-empty string" if required else "expected a string")
        return value

    def seconds(self, value: Any, where: str, *, allow_zero: bool) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not finite(value)
            or value < 0
            or value > MAX_SECONDS
            or (value == 0 and not allow_zero)
        ):
            bounds = f"0 to {MAX_SECONDS}" if allow_zero else f"more than 0, at most {MAX_SECONDS}"
            raise self.fail(where, f"expected a number of seconds ({bounds})")
        return float(value)

    def expectations(self, value: Any, where: str) -> tuple[Expectation, ...]:
        out = []
        for pointer, spec in self.table(value, where).items():
            try:
                out.append(compile_expectation(pointer, spec))
            except CheckError as exc:
                raise self.fail(f"{where}.{pointer}", str(exc)) from None
        return tuple(out)

    def saves(self, value: Any, where: str) -> tuple[Save, ...]:
        out = []
        for name, spec in self.table(value, where).items():
            if not name.isidentifier():
                raise self.fail(f"{where}.{name}", "a variable name is letters, digits and _")
            if isinstance(spec, str):
                spec = {"pointer": spec}
            spec = self.table(spec, f"{where}.{name}", {"pointer", "from"})
            pointer = self.text(spec, "pointer", f"{where}.{name}", required=True)
            source = spec.get("from", "message")
            if source not in ("message", "answer"):
                raise self.fail(f"{where}.{name}.from", 'expected "message" or "answer"')
            try:
                split(pointer)
            except ValueError as exc:
                raise self.fail(f"{where}.{name}", str(exc)) from None
            out.append(Save(name, pointer, source))
        return tuple(out)

    def refusal(self, value: Any, where: str) -> Refusal:
        if isinstance(value, str):
            value = {"kind": value}
        spec = self.table(value, where, {"kind", "message"})
        kind = self.text(spec, "kind", where, required=True)
        if kind not in REFUSAL_KINDS:
            raise self.fail(
                f"{where}.kind" if "message" in spec else where,
                f"{kind!r} is no exit kind (kinds: {', '.join(REFUSAL_KINDS)})",
            )
        message = self.text(spec, "message", where)
        if message is not None:
            try:
                bounded_regex(message)
            except CheckError as exc:
                raise self.fail(f"{where}.message", str(exc)) from None
        return Refusal(kind, message)

    def plain(self, value: Any, where: str) -> Any:
        """``value``, refused when it holds a TOML date or time: variables and
        parameters become JSON text, which has no dates (write it as a string)."""
        check_plain(value, lambda path, kind: self.fail(f"{where}{path}", f"a TOML {kind} is no JSON value (quote it)"))
        return value

    def step(self, raw: Any, number: int, where: str) -> Step:
        spec = self.table(raw, where, STEP_KEYS)
        actions = [a for a in ACTIONS if a in spec]
        if len(actions) != 1:
            raise self.fail(
                where,
                f"a step does one of {', '.join(ACTIONS)} ({'none' if not actions else ' and '.join(actions)} given)",
            )
        action = actions[0]
        allowed = {
            "send": {"params", "expect", "save", "refused", "timeout"},
            "raw": {"expect", "save", "timeout"},
            "wait": {"expect", "answer", "save", "timeout"},
            "sleep": set(),
        }[action] | {action, "name"}
        extra = sorted(set(spec) - allowed)
        if extra:
            raise self.fail(f"{where}.{extra[0]}", f"not for a {action} step")
        if action == "sleep":
            target: Any = self.seconds(spec["sleep"], f"{where}.sleep", allow_zero=True)
        else:
            target = self.text(spec, action, where, required=True)
        if spec.get("refused") is not None and ("expect" in spec or "save" in spec):
            raise self.fail(f"{where}.refused", "a refused step has no reply to expect or save from")
        return Step(
            number=number,
            action=action,
            target=target,
            params=self.plain(self.table(spec.get("params", {}), f"{where}.params"), f"{where}.params"),
            expect=self.expectations(spec.get("expect", {}), f"{where}.expect"),
            answer=self.expectations(spec.get("answer", {}), f"{where}.answer"),
            save=self.saves(spec.get("save", {}), f"{where}.save"),
            refused=self.refusal(spec["refused"], f"{where}.refused") if "refused" in spec else None,
            timeout=self.seconds(spec["timeout"], f"{where}.timeout", allow_zero=False) if "timeout" in spec else None,
            name=self.text(spec, "name", where),
        )

    def case(self, raw: Any, index: int, names: set[str]) -> Case:
        where = f"cases[{index}]"
        spec = self.table(raw, where, {"name", "description", "steps"})
        name = self.text(spec, "name", where, required=True)
        if name in names:
            raise self.fail(f"{where}.name", f"case {name!r} is named twice")
        names.add(name)
        steps = spec.get("steps")
        if not isinstance(steps, list) or not steps:
            raise self.fail(f"{where}.steps", "expected at least one [[cases.steps]]")
        return Case(
            name,
            tuple(self.step(s, n, f"{where}.steps[{n}]") for n, s in enumerate(steps, start=1)),
            self.text(spec, "description", where) or "",
        )


def parse_scenario(text: str, source: str) -> Scenario:
    """The checked scenario in ``text`` (from ``source``, for messages); InvalidInput otherwise."""
    reader = _Reader(source)
    doc = parse_toml(text, source)
    reader.table(doc, "(top)", {"format", "scenario", "vars", "cases"})
    if doc.get("format") != FORMAT:
        raise reader.fail("format", f'expected format = "{FORMAT}", got {doc.get("format")!r}')
    head = reader.table(doc.get("scenario", {}), "scenario", {"id", "title", "version", "profile", "description"})
    variables = reader.plain(reader.table(doc.get("vars", {}), "vars"), "vars")
    for name in variables:
        if not name.isidentifier():
            raise reader.fail(f"vars.{name}", "a variable name is letters, digits and _")
    cases = doc.get("cases")
    if not isinstance(cases, list) or not cases:
        raise reader.fail("cases", "expected at least one [[cases]]")
    profile = reader.text(head, "profile", "scenario")
    if profile is not None and not PLAIN_NAME.fullmatch(profile):
        raise reader.fail(
            "scenario.profile",
            f"{profile!r} is not the plain name of an installed profile (a scenario's profile is never opened as a path)",
        )
    names: set[str] = set()
    return Scenario(
        id=reader.text(head, "id", "scenario", required=True),
        title=reader.text(head, "title", "scenario") or "",
        version=reader.text(head, "version", "scenario") or "",
        profile=profile,
        variables=dict(variables),
        cases=tuple(reader.case(c, i, names) for i, c in enumerate(cases, start=1)),
        source=source,
        description=reader.text(head, "description", "scenario") or "",
    )


def check_variables(scenario: Scenario, given: set[str]) -> None:
    """Every variable a step uses is set before it: by `[vars]`, ``given``
    (--var), or a `save` of an earlier step of the same case."""
    for index, case in enumerate(scenario.cases, start=1):
        known = set(scenario.variables) | given
        for step in case.steps:
            used = variables_in(step.target) | variables_in(step.params)
            for exp in (*step.expect, *step.answer):
                used |= variables_in(dict(exp.tests))
            missing = sorted(used - known)
            if missing:
                raise InvalidInput(
                    f"{scenario.source}: cases[{index}] ({case.name}): {step.label} uses ${{{missing[0]}}} before any step saves it",
                    hint='save = { NAME = "/pointer" } on an earlier step, [vars], or --var NAME=VALUE',
                )
            known |= {s.name for s in step.save}


def check_against_profile(scenario: Scenario, profile: Any, variables: dict[str, Any] | None = None) -> set[str]:
    """Commands, events and parameters the steps name exist in ``profile``, and
    parameters without variables bind (except in steps that expect `invalid`).
    Returns what needs --yes: the dangerous commands the scenario sends, by
    `send` or `raw` step (a raw message read as the device reads it, with the
    ``variables`` known before the run: [vars] and --var), and raw messages
    that cannot be read before they run (a variable a step saves) or have no
    single reading (the proxy gate's rules)."""
    from wsctl.core.record.replay import OutgoingReader

    reader = OutgoingReader(profile)
    known = {**scenario.variables, **(variables or {})}
    dangerous = set()
    for index, case in enumerate(scenario.cases, start=1):
        saved = {s.name for step in case.steps for s in step.save}
        case_known = {k: v for k, v in known.items() if k not in saved}
        for step in case.steps:
            where = f"{scenario.source}: cases[{index}] ({case.name}): {step.label}"
            if step.action == "raw":
                dangerous |= _raw_danger(step, reader, case_known, f"cases[{index}]")
            elif step.action == "wait":
                _check_event(step, profile, where)
            elif step.action == "send":
                dangerous |= _check_send(step, profile, where)
    return dangerous


def _check_event(step: Step, profile: Any, where: str) -> None:
    if step.target not in profile.events and profile.event_by_wire(step.target) is None:
        raise InvalidInput(
            f"{where}: profile {profile.id} has no event {step.target!r}",
            hint=f"events: {', '.join(profile.events) or 'none'}",
        )


def _check_send(step: Step, profile: Any, where: str) -> set[str]:
    from wsctl.core.profile.codec import bind_params

    command = profile.command(step.target)
    if command is None:
        raise InvalidInput(
            f"{where}: profile {profile.id} has no command {step.target!r}",
            hint=f"commands: {', '.join(profile.commands)}",
        )
    expects_invalid = step.refused is not None and step.refused.kind == "invalid"
    if not expects_invalid and not variables_in(step.params):
        try:
            bind_params(command, step.params, from_text=False)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}", hint=exc.hint) from None
    return {command.key} if command.dangerous else set()


def _raw_danger(step: Step, reader: Any, known: dict[str, Any], case: str) -> set[str]:
    """What of a raw step needs --yes (see `check_against_profile`)."""
    unknown = sorted(variables_in(step.target) - set(known))
    if unknown:
        return {f"{case} step {step.number}: a raw message with ${{{unknown[0]}}}, unread before it runs"}
    reading = reader.read(as_text(substitute(step.target, known)))
    if reading.problems:
        return {f"{case} step {step.number}: a raw message that is {reading.describe()}"}
    return {reading.command.key} if reading.dangerous else set()
