"""Printing per-device outcomes of client verbs, the same way for every verb."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.cli.support.errors import one_line
from wsctl.cli.support.fleet import Outcome
from wsctl.cli.support.render import error_result


def emit_outcome(
    env: Environment,
    outcome: Outcome,
    *,
    fleet: bool,
    fields: Callable[[Any], dict[str, Any]],
    human: Callable[[Any], str],
    as_json: bool | None = None,
    event: str | None = None,
) -> None:
    """One result line per device.

    JSON: always a result object on stdout.  Human: a single device prints just
    its result (so `wsctl send ... | grep` works) and its error on stderr; a
    fleet prints one aligned line per device.  ``as_json`` overrides --json
    (streaming verbs write JSON whenever stdout is not a terminal); ``event``
    tags the line (``"summary"``) where it shares stdout with other records.
    """
    use_json = env.json if as_json is None else as_json
    tag = {"event": event} if event else {}
    if not outcome.ok:
        assert outcome.error is not None
        obj = {**tag, **error_result(outcome.device, outcome.error, outcome.elapsed)}
        # an error may carry what did arrive before it (send --expect N: 1 of 2 replies)
        partial = getattr(outcome.error, "partial", None)
        if partial:
            obj.update(fields(partial))
            if not (env.json or use_json):
                env.emit({}, human(partial), as_json=False)
        if env.json or (use_json and fleet):
            env.emit(obj, as_json=True)
        elif fleet:
            env.emit(obj, f"{outcome.device:20} error  {outcome.elapsed:7.3f}s  {one_line(outcome.error.message)}")
        else:
            # the message quotes the device (its close reason, its rejection body):
            # escaped, so that it cannot drive the terminal or forge a second line
            env.stderr.write(f"wsctl: error: {one_line(outcome.error.message)}\n")
            if outcome.error.hint:
                env.stderr.write(f"wsctl: hint: {one_line(outcome.error.hint)}\n")
            env.stderr.flush()
        return
    obj = {**tag, "device": outcome.device, "ok": True, "elapsed": round(outcome.elapsed, 4), **fields(outcome.value)}
    if use_json:
        env.emit(obj, as_json=True)  # the human text is not made: a fleet's --json wrote none of its 1,000
        return
    text = human(outcome.value)
    if fleet:
        text = f"{outcome.device:20} ok     {outcome.elapsed:7.3f}s  {text}"
    env.emit(obj, text, as_json=False)
