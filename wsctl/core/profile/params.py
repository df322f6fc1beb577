"""Command parameters: a JSON-Schema subset (type, enum, minimum, maximum,
pattern, default, required) plus `unit`; parsing `name=value` from the command
line and checking values before anything is sent."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING
from wsctl.core.profile.regex_guard import VALUE_LIMIT, compile_bounded

TYPES = ("string", "integer", "number", "boolean", "object", "array")
PARAM_KEYS = {"type", "description", "unit", "enum", "minimum", "maximum", "pattern", "default", "required", "wire"}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str = ""
    unit: str | None = None
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    default: Any = MISSING
    required: bool = True
    #: name on the wire when it differs (OCPP's connectorId vs connector_id)
    wire: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def wire_name(self) -> str:
        return self.wire or self.name

    def describe(self) -> str:
        """`speed: integer 0..3000 mm/s` for usage lines and help."""
        parts = [self.type]
        if self.enum is not None:
            parts = ["|".join(map(str, self.enum))]
        if self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else f"{self.minimum:g}"
            hi = "" if self.maximum is None else f"{self.maximum:g}"
            parts.append(f"{lo}..{hi}")
        if self.unit:
            parts.append(self.unit)
        if self.default is not MISSING:
            parts.append(f"default {json.dumps(self.default)}")
        elif not self.required:
            parts.append("optional")
        return f"{self.name}: {' '.join(parts)}"

    def fits_type(self, value: Any) -> bool:
        """The value is of this parameter's JSON type (the hub's central side
        tells a wrong type from a wrong value: OCPP has an error code for each)."""
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool) and finite(value)
        if self.type == "boolean":
            return isinstance(value, bool)
        return isinstance(value, dict if self.type == "object" else list)

    def check(self, value: Any, *, where: str = "") -> Any:
        """The value if it fits the schema, else InvalidInput naming the parameter."""
        label = f"{where}{self.name}"
        if not self.fits_type(value):
            raise InvalidInput(f"{label}: expected {self.type}, got {json.dumps(value)}")
        if self.enum is not None and value not in self.enum:
            raise InvalidInput(f"{label}: {json.dumps(value)} is not one of {', '.join(map(json.dumps, self.enum))}")
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and value < self.minimum:
            raise InvalidInput(f"{label}: {value}{unit} is below the minimum {self.minimum:g}{unit}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidInput(f"{label}: {value}{unit} is above the maximum {self.maximum:g}{unit}")
        if self._regex is not None and len(value) > VALUE_LIMIT:
            # a pattern is matched in bounded time only on bounded input (regex_guard)
            raise InvalidInput(f"{label}: {len(value)} characters, more than the {VALUE_LIMIT} a pattern is checked on")
        if self._regex is not None and not self._regex.fullmatch(value):
            raise InvalidInput(f"{label}: {value!r} does not match {self.pattern!r}")
        return value

    def parse(self, text: str, *, where: str = "") -> Any:
        """A command-line string as this parameter's type, then checked."""
        label = f"{where}{self.name}"
        try:
            if self.type == "string":
                value: Any = text
            elif self.type == "integer":
                value = int(text, 0) if text.lower().startswith(("0x", "0o", "0b")) else int(text)
            elif self.type == "number":
                value = float(text)
                if value.is_integer() and re.fullmatch(r"[+-]?\d+", text.strip()):
                    value = int(text)
            elif self.type == "boolean":
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                value = lowered in ("true", "1", "yes", "on")
            else:
                value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
            raise InvalidInput(f"{label}: {text!r} is not a valid {self.type}") from None
        return self.check(value, where=where)


def finite(value: Any) -> bool:
    """A number a setting can be: not NaN or infinite, and (TOML integers
    have no size limit) not too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def short(value: Any) -> str:
    """A value for an error line, cut short (a TOML integer may have thousands of digits)."""
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _check_bounds(table: dict[str, Any], kind: str, where: str) -> None:
    for key in ("minimum", "maximum"):
        if key not in table:
            continue
        if not isinstance(table[key], (int, float)) or isinstance(table[key], bool):
            raise InvalidInput(f"{where}.{key}: expected a number")
        if not finite(table[key]):
            # a bound of nan lets every value through
            raise InvalidInput(f"{where}.{key}: expected a finite number, got {short(table[key])}")
        if kind not in ("integer", "number"):
            raise InvalidInput(f"{where}.{key}: only for integer or number parameters")
    if "minimum" in table and "maximum" in table and table["minimum"] > table["maximum"]:
        raise InvalidInput(f"{where}: minimum is above maximum")


def _pattern(table: dict[str, Any], kind: str, where: str) -> re.Pattern[str] | None:
    if "pattern" not in table:
        return None
    if kind != "string":
        raise InvalidInput(f"{where}.pattern: only for string parameters")
    try:
        return compile_bounded(table["pattern"])
    except (re.error, TypeError) as exc:
        raise InvalidInput(f"{where}.pattern: not a valid regex: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{where}.pattern: {exc}") from None


def parse_param(name: str, table: Any, where: str) -> Param:
    if not isinstance(table, dict):
        raise InvalidInput(f"{where}: expected a table with at least `type`")
    unknown = set(table) - PARAM_KEYS
    if unknown:
        raise InvalidInput(f"{where}: unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(PARAM_KEYS))})")
    kind = table.get("type")
    if kind not in TYPES:
        raise InvalidInput(f"{where}.type: expected one of {', '.join(TYPES)}, got {kind!r}")
    _check_bounds(table, kind, where)
    regex = _pattern(table, kind, where)
    enum = table.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise InvalidInput(f"{where}.enum: expected a non-empty list")
    for key in ("description", "unit", "wire"):
        if key in table and not isinstance(table[key], str):
            raise InvalidInput(f"{where}.{key}: expected a string")
    if "required" in table and not isinstance(table["required"], bool):
        raise InvalidInput(f"{where}.required: expected true or false")
    param = Param(
        name=name,
        type=kind,
        description=table.get("description", ""),
        unit=table.get("unit"),
        enum=tuple(enum) if enum is not None else None,
        minimum=table.get("minimum"),
        maximum=table.get("maximum"),
        pattern=table.get("pattern"),
        default=table.get("default", MISSING),
        required=table.get("required", "default" not in table),
        wire=table.get("wire"),
        _regex=regex,
    )
    for n, value in enumerate(param.enum or ()):
        if not param.fits_type(value):
            # a value of another type could never be given: the enum would refuse everything it names
            raise InvalidInput(f"{where}.enum[{n}]: {short(value)} is not of the parameter's type {kind}")
    if param.default is not MISSING:
        param.check(param.default, where=f"{where}.default: ")
    return param
