"""A replay's comparison as test cases (`wsctl replay --junit`): one per send,
failing with the differences in the answers recorded after it."""

from __future__ import annotations

from typing import Any

from wsctl.core.junit import JUnitCase
from wsctl.core.record.compare import Report
from wsctl.core.record.replay import Plan


def _text(message: str | bytes, limit: int = 60) -> str:
    if isinstance(message, bytes):
        return f"<binary {len(message)} bytes>"
    return message if len(message) <= limit else message[: limit - 3] + "..."


def replay_cases(
    plan: Plan, report: Report | None, sent: int, suite: str, *, closed: str | None = None
) -> list[JUnitCase]:
    """Cases in send order; answers recorded before the first send and answers
    nobody recorded get a case of their own when there are any.  ``closed``: why
    the sends after ``sent`` never went out."""
    differences = report.differences if report is not None else []
    by_send: dict[int | None, list[Any]] = {}
    for d in differences:
        owner = plan.after_send[d.expected_index] if d.expected_index is not None else None
        by_send.setdefault(owner, []).append(d)
    context = plan.context()

    def case(name: str, owned: list[Any], expected: int) -> JUnitCase:
        if not owned:
            return JUnitCase(name, suite, 0.0)
        lines = Report(expected, 0, owned).lines(context=context)[:-1]  # the last line sums up the whole replay
        kinds = sorted({d.kind for d in owned})
        return JUnitCase(
            name,
            suite,
            0.0,
            "failure",
            f"{len(owned)} answer(s) {', '.join(kinds)}: {lines[0]}",
            "\n".join(lines),
            "device_error",
        )

    cases = []
    if -1 in plan.after_send:
        cases.append(case("answers before the first send", by_send.get(-1, []), plan.after_send.count(-1)))
    for send in plan.sends:
        name = f"send {send.index + 1}: {_text(send.message)}"
        if send.index >= sent:
            cases.append(
                JUnitCase(name, suite, 0.0, "error", f"not sent: {closed or 'the replay stopped'}", "", "closed")
            )
            continue
        cases.append(case(name, by_send.get(send.index, []), send.expect))
    if by_send.get(None):
        cases.append(case("answers nobody recorded", by_send[None], 0))
    return cases
