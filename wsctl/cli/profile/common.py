"""What the profile verbs share: loading by name or path with the command's
environment, and one-line summaries of roles and parameters."""

from __future__ import annotations

import json
import os
from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.core.pointer import MISSING
from wsctl.core.profile.model import Profile
from wsctl.core.profile.params import Param
from wsctl.files.profiles import ProfileLocation, load_location


def load(env: Environment, name_or_path: str) -> tuple[Profile, ProfileLocation]:
    return load_location(name_or_path, cwd=os.getcwd(), environ=env.environ)


def param_record(p: Param) -> dict[str, Any]:
    """Stable JSON keys for a parameter (absent constraints are null)."""
    return {
        "name": p.name,
        "wire": p.wire_name,
        "type": p.type,
        "unit": p.unit,
        "enum": list(p.enum) if p.enum is not None else None,
        "minimum": p.minimum,
        "maximum": p.maximum,
        "pattern": p.pattern,
        "required": p.required,
        "default": None if p.default is MISSING else p.default,
        "has_default": p.default is not MISSING,
        "description": p.description,
    }


def param_line(p: Param) -> str:
    """`speed  integer 0..3000 mm/s  required  Belt speed` (wire name when it differs)."""
    body = p.describe().split(": ", 1)[1]
    if p.required and p.default is MISSING:
        body += " required"
    if p.pattern:
        body += f" pattern {json.dumps(p.pattern)}"
    wire = f" (wire {p.wire})" if p.wire and p.wire != p.name else ""
    text = f"{p.name}{wire}: {body}"
    return f"{text}  — {p.description}" if p.description else text
