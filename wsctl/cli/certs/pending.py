"""`wsctl certs pending`: EST enrollments waiting for an operator."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, store_dir_option
from wsctl.cli.support.env import Environment


@click.command("pending")
@click.option("--all", "include_decided", is_flag=True, help="Approved, rejected and expired ones too.")
@store_dir_option
@click.pass_context
def pending(ctx: click.Context, include_decided: bool) -> None:
    """List EST enrollments that wait for 'wsctl certs approve ID'.

    NAME is what the device proved (its bootstrap certificate or Basic
    account); the names the CSR asks for are shown and never certified.

    \b
    EXAMPLES
      wsctl certs pending
      wsctl --json certs pending --all
    """
    from wsctl.cli.certs.enroll_code import _utc
    from wsctl.pki.enrollment_db import EnrollmentBook
    from wsctl.pki.est_enroll import expire_pending

    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    book = EnrollmentBook(store.path)
    expire_pending(store, book)
    rows = book.pending(include_decided=include_decided)
    for row in rows:
        asked = _asked(row.csr)
        obj = {
            "id": row.id,
            "status": row.status,
            "label": row.label,
            "kind": row.kind,
            "name": row.name,
            "auth": row.auth,
            "client": row.client,
            "dns": list(row.dns),
            "role": row.role,
            "csr_asks_for": asked,
            "requested_at": _utc(row.created),
            "expires": None if row.expires is None else _utc(row.expires),
            "serial": row.serial,
        }
        human = f"{row.id}  {row.status:8}  {row.kind} {row.name}  label {row.label}  from {row.client}  ({row.auth})"
        if row.status == "pending" and row.expires is not None:
            human += f"  until {_utc(row.expires)}"
        if row.dns or row.role:
            human += f"  will get {', '.join(row.dns) or 'role ' + str(row.role)}"
        if asked:
            human += f"  [CSR asks for {', '.join(asked)}: ignored]"
        env.emit(obj, human)
    if not rows and not env.json:
        env.info("no enrollment waits for approval")


def _asked(csr: bytes) -> list[str]:
    """The names a waiting CSR asks for.  One stored before `load_csr` refused malformed
    extensions no longer loads: it is still listed (asking for nothing), so that it can be rejected."""
    from wsctl.core.errors import InvalidInput
    from wsctl.pki.csr import load_csr, requested_names

    try:
        return requested_names(load_csr(csr))
    except InvalidInput:
        return []
