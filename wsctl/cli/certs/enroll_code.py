"""`wsctl certs enroll-code NAME`: a one-time code a device enrolls with over EST."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, store_dir_option
from wsctl.cli.support.env import Environment

CODE_NOTE = "this code is shown once (the store keeps only its hash); it works once, for this name only"


@click.command("enroll-code")
@click.argument("name")
@click.option("--device", "kind", flag_value="device", default=True, help="For a device certificate [default].")
@click.option("--operator", "kind", flag_value="operator", help="For an operator certificate (needs --role).")
@click.option("--dns", "dns", multiple=True, metavar="HOST", help="Approved DNS name (repeatable).")
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="Approved IP address (repeatable).")
@click.option("--role", default=None, help="Operator role.")
@click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=None,
    help="Validity [default: the label's, else device 365, operator 30].",
)
@click.option("--ttl", default="1h", show_default=True, help="How long the code can be used: 90s, 15m, 1h, 7d.")
@store_dir_option
@click.pass_context
def enroll_code(ctx: click.Context, name: str, kind: str, dns, ips, role, days, ttl: str) -> None:
    """Issue a one-time enrollment code for NAME, for 'wsctl certs est' (auth=code).

    The device sends it as HTTP Basic password with NAME as the user. The
    certificate gets the names and role approved here, whatever the CSR asks
    for. A new code for NAME voids an unused earlier one. With -q only the
    code is printed.

    \b
    EXAMPLES
      wsctl certs enroll-code plc-18 --dns plc-18.plant.local --ip 10.0.0.18 --ttl 1h
      wsctl certs enroll-code carol --operator --role engineer --ttl 15m
      CODE=$(wsctl -q certs enroll-code cam-9 --dns cam-9.plant.local)
    """
    from wsctl.core.errors import InvalidInput
    from wsctl.core.est_http import parse_duration
    from wsctl.pki import names
    from wsctl.pki.enrollment_db import EnrollmentBook

    env: Environment = ctx.obj
    try:
        seconds = parse_duration(ttl)
    except ValueError as exc:
        raise InvalidInput(f"--ttl: {exc}") from None
    store = get_store(ctx)
    store.require()
    if kind == "device":
        spec = store.device_spec(name, dns, ips, days or 365)  # the checks signing will make, now
        dns, ips, role = spec.dns, tuple(str(i) for i in spec.ips), None
    else:
        names.check_name(name)
        role = names.check_role(role)
        if dns or ips:
            raise InvalidInput("an operator certificate carries no --dns/--ip")
    secret, code = EnrollmentBook(store.path).issue_code(
        name, kind=kind, ttl=seconds, dns=dns, ips=ips, role=role, days=days
    )
    store.audit(
        "est-code", f"{kind}:{name}", None, "ok", code=code.id, ttl=seconds, dns=list(dns), ips=list(ips), role=role
    )
    expires = _utc(code.expires)
    obj = {
        "name": name,
        "kind": kind,
        "code": secret,
        "expires": expires,
        "dns": list(dns),
        "ips": list(ips),
        "role": role,
    }
    human = f"enrollment code for {kind} {name}, valid until {expires}, single use:\n{secret}\n{CODE_NOTE}"
    # -q: the code alone, for CODE=$(wsctl -q certs enroll-code ...)
    env.emit(obj, secret if env.verbosity < 0 else human)


def _utc(timestamp: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
