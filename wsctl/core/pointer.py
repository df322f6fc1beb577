"""JSON Pointer (RFC 6901) lookups, used by profile rules to find ids, names
and payloads inside messages."""

from __future__ import annotations

import functools
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@functools.lru_cache(maxsize=4096)
def split(pointer: str) -> tuple[str, ...]:
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {pointer!r}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def join(parts: tuple[str, ...] | list[str]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(document: Any, pointer: str | tuple[str, ...]) -> Any:
    """The value at `pointer`, or MISSING (never raises for absent paths)."""
    node = document
    for part in split(pointer) if isinstance(pointer, str) else pointer:
        if isinstance(node, dict):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node) or (part != "0" and part.startswith("0")):
                return MISSING
            node = node[int(part)]
        else:
            return MISSING
    return node
