"""Operator roles and who may run what.

The vocabulary is OPC UA's well-known roles.  The first four form a ladder for
running machine commands (`"operator+"` in a profile means operator, engineer or
supervisor); the two admin roles stand apart — administering configuration or
security does not by itself allow moving a machine.
"""

from __future__ import annotations

LADDER = ("observer", "operator", "engineer", "supervisor")
ADMIN = ("configure-admin", "security-admin")
KNOWN = LADDER + ADMIN


def expand(spec: str) -> frozenset[str]:
    """One entry of a command's `roles`: a role, `role+` (it and those above), or `*`."""
    if spec == "*":
        return frozenset(KNOWN)
    if spec.endswith("+"):
        base = spec[:-1]
        if base not in LADDER:
            raise ValueError(f"{spec!r}: only ladder roles take '+' ({', '.join(LADDER)})")
        return frozenset(LADDER[LADDER.index(base) :])
    if spec not in KNOWN:
        raise ValueError(f"unknown role {spec!r} (known: {', '.join(KNOWN)}, 'role+', '*')")
    return frozenset({spec})


def expand_all(specs: list[str] | tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for spec in specs:
        out |= expand(spec)
    return frozenset(out)


def allowed(role: str | None, permitted: frozenset[str]) -> bool:
    return role is not None and role in permitted
