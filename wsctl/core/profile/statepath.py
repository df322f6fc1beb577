"""Dotted paths into the simulator's state: `energy_wh`,
`config.HeartbeatInterval.value`, `config.{{params.key}}.value`.

A segment may be a template (rendered against the command's context), so a
command can read and write the entry its parameter names; dots inside a
placeholder do not split the path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wsctl.core.pointer import MISSING
from wsctl.core.profile.template import render_text

_SEGMENT = re.compile(r"(?:\{\{.*?\}\}|[^.{])+")


def split(path: str) -> tuple[str, ...]:
    """The segments of a path; ValueError for an empty segment (`a..b`, `.a`)."""
    parts = tuple(m.group(0) for m in _SEGMENT.finditer(path))
    if not path or ".".join(parts) != path:
        raise ValueError(f"not a state path: {path!r} (names joined by '.')")
    return parts


def resolve(parts: tuple[str, ...], context: Mapping[str, Any]) -> tuple[str, ...]:
    """Render templated segments (a missing value renders empty, naming nothing)."""
    return tuple(render_text(p, context, strict=False) if "{{" in p else p for p in parts)


def get(state: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = state
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def put(state: dict[str, Any], parts: tuple[str, ...], value: Any) -> bool:
    """Set the value at a path whose parent tables exist; False (nothing set) otherwise:
    a command cannot invent configuration keys the profile did not declare."""
    node: Any = state
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if not isinstance(node, dict) or not parts[-1]:
        return False
    node[parts[-1]] = value
    return True
