"""Templates in profiles: `{{id}}`, `{{name}}`, `{{params}}`, `{{params.speed}}`,
`{{state.speed}}`, `{{now}}`, `{{payload}}` ...

In a JSON template, a string that is exactly one placeholder is replaced by the
value itself (so numbers stay numbers, `{{params}}` becomes an object); a
placeholder inside a longer string is interpolated as text.  Text templates
always interpolate.

A placeholder may end in one filter: `{{state.energy_wh|string}}` is the value
as text ("30"), for protocols that carry numbers in strings (OCPP 1.6
sampledValue.value) while the state keeps counting in numbers.  FILTERS lists
them; the loader refuses unknown ones.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from wsctl.core.pointer import MISSING

#: group 1: the name; group 2: an optional filter after `|`
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*(?:\|\s*([A-Za-z_]\w*)\s*)?\}\}")


class TemplateError(ValueError):
    pass


def dumps(value: Any) -> str:
    """JSON as it goes on the wire: compact, UTF-8 as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_time(wall: float) -> str:
    """`{{now}}` in templates: UTC ISO 8601, what OCPP's currentTime/timestamp expect."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def lookup(context: Mapping[str, Any], dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


#: `{{x|NAME}}`: what each filter does to the value
FILTERS: dict[str, Callable[[Any], Any]] = {"string": _text}


def _filtered(value: Any, name: str | None) -> Any:
    if name is None or value is MISSING:
        return value
    try:
        return FILTERS[name](value)
    except KeyError:
        raise TemplateError(f"unknown template filter {name!r} (known: {', '.join(FILTERS)})") from None


def render_text(template: str, context: Mapping[str, Any], *, strict: bool = True) -> str:
    def sub(match: re.Match[str]) -> str:
        value = lookup(context, match.group(1))
        if value is MISSING:
            if strict:
                raise TemplateError(f"template names {match.group(0)}, which has no value")
            return ""
        return _text(_filtered(value, match.group(2)))

    return PLACEHOLDER.sub(sub, template)


def render(template: Any, context: Mapping[str, Any], *, strict: bool = True) -> Any:
    """Render a JSON-shaped template (dict/list/str/scalars) against a context.

    An optional parameter without a value drops its key from objects, so
    `{"mode": "{{params.mode}}"}` sends no `mode` rather than `null`.
    """
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            value = lookup(context, whole.group(1))
            if value is MISSING and strict:
                raise TemplateError(f"template names {template.strip()}, which has no value")
            return _filtered(value, whole.group(2))
        return render_text(template, context, strict=strict)
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            rendered = (
                render(value, context, strict=False)
                if _optional(value, context)
                else render(value, context, strict=strict)
            )
            if rendered is not MISSING:
                out[key] = rendered
        return out
    if isinstance(template, list):
        return [None if (v := render(item, context, strict=strict)) is MISSING else v for item in template]
    return template


def compile_template(template: Any, *, strict: bool = True) -> Callable[[Mapping[str, Any]], Any]:
    """`render` for one template, prepared once: the codec renders the same
    request template for every call, and parsing placeholders each time was
    most of the profile layer's cost (bench/bench_profile.py)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole and whole.group(2) is not None:
            # filters are rare (simulator payloads): no fast path needed
            return lambda context: render(template, context, strict=strict)
        if whole:
            parts, shown = tuple(whole.group(1).split(".")), template.strip()

            def value(context: Mapping[str, Any]) -> Any:
                node: Any = context
                for part in parts:
                    # contexts are plain dicts; typing.Mapping's isinstance is slow
                    if isinstance(node, dict) and part in node:
                        node = node[part]
                    else:
                        if strict:
                            raise TemplateError(f"template names {shown}, which has no value")
                        return MISSING
                return node

            return value
        if PLACEHOLDER.search(template):
            return lambda context: render_text(template, context, strict=strict)
        return lambda context: template
    if isinstance(template, dict):
        items = [
            (key, compile_template(value, strict=strict and not _optional(value, {})))
            for key, value in template.items()
        ]

        def mapping(context: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for key, fn in items:
                rendered = fn(context)
                if rendered is not MISSING:
                    out[key] = rendered
            return out

        return mapping
    if isinstance(template, list):
        fns = [compile_template(item, strict=strict) for item in template]
        return lambda context: [None if (v := fn(context)) is MISSING else v for fn in fns]
    return lambda context: template


def _optional(value: Any, context: Mapping[str, Any]) -> bool:
    # a whole-value `{{params.x}}` for a parameter the caller left out
    if not isinstance(value, str):
        return False
    whole = PLACEHOLDER.fullmatch(value.strip())
    return whole is not None and whole.group(1).startswith("params.")


def placeholders(template: Any) -> Iterator[str]:
    """Every placeholder name used anywhere in a template."""
    for name, _ in placeholder_filters(template):
        yield name


def placeholder_filters(template: Any) -> Iterator[tuple[str, str | None]]:
    """(name, filter or None) of every placeholder anywhere in a template."""
    if isinstance(template, str):
        yield from ((m.group(1), m.group(2)) for m in PLACEHOLDER.finditer(template))
    elif isinstance(template, dict):
        for value in template.values():
            yield from placeholder_filters(value)
    elif isinstance(template, list):
        for item in template:
            yield from placeholder_filters(item)


def slots(template: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str | None, Any]]:
    """(pointer parts, placeholder or None, literal) for every leaf of a JSON template.

    The device side uses this to read requests by the same template the client
    writes them with: placeholders say where the id, name and params are;
    literals (`"jsonrpc": "2.0"`, the `2` of an OCPP CALL) must match.
    """
    if isinstance(template, dict):
        for key, value in template.items():
            yield from slots(value, path + (str(key),))
    elif isinstance(template, list):
        for index, item in enumerate(template):
            yield from slots(item, path + (str(index),))
    elif isinstance(template, str) and (whole := PLACEHOLDER.fullmatch(template.strip())):
        yield path, whole.group(1), None
    else:
        yield path, None, template


def text_pattern(template: str, fixed: Mapping[str, str]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A regex that reads a text request back, and the parameter each of its
    groups holds (group `p0` is the first name, ...).

    Fixed placeholders match literally, `params.x` become groups (a parameter
    named twice must be the same value twice), other placeholders match any
    text.  A value runs up to the first character of the literal text after
    it (`SET {{params.a}},{{params.b}}`: `a` holds no comma), or to the end of
    the line: the pattern cannot backtrack across values, so reading a line
    takes time linear in its length.  Two placeholders with nothing between
    them cannot be told apart: TemplateError.  Matched with `fullmatch`
    against the stripped line.
    """
    tokens: list[tuple[bool, str]] = []  # (is a literal, text or placeholder name)
    pos = 0
    for match in PLACEHOLDER.finditer(template):
        tokens.append((True, template[pos : match.start()]))
        name = match.group(1)
        tokens.append((True, fixed[name]) if name in fixed else (False, name))
        pos = match.end()
    tokens.append((True, template[pos:]))
    merged: list[tuple[bool, str]] = []
    for token in tokens:
        if merged and merged[-1][0] and token[0]:
            merged[-1] = (True, merged[-1][1] + token[1])
        else:
            merged.append(token)
    if merged and merged[0][0]:
        merged[0] = (True, merged[0][1].lstrip())
    if merged and merged[-1][0]:
        merged[-1] = (True, merged[-1][1].rstrip())
    merged = [token for token in merged if token[1] or not token[0]]
    out: list[str] = []
    groups: list[str] = []
    for n, (literal, text) in enumerate(merged):
        if literal:
            out.append(re.escape(text))
            continue
        following = merged[n + 1] if n + 1 < len(merged) else (True, "")
        if not following[0]:
            raise TemplateError(f"template {template!r}: two placeholders side by side cannot be read back")
        after = following[1]
        body = f"[^{re.escape(after[0])}]" if after else "."
        if not text.startswith("params."):
            out.append(body + "*")
        elif text[7:] in groups:
            out.append(f"(?P=p{groups.index(text[7:])})")
        else:
            out.append(f"(?P<p{len(groups)}>{body}+)")
            groups.append(text[7:])
    return re.compile("".join(out)), tuple(groups)
