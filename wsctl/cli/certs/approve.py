"""`wsctl certs approve ID`: sign (or refuse) an EST enrollment that waits for a person."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import (
    entry_human,
    entry_record,
    get_store,
    password_file_option,
    store_dir_option,
    store_password,
)
from wsctl.cli.support.env import Environment


@click.command("approve")
@click.argument("request_id", metavar="ID")
@click.option(
    "--dns", "dns", multiple=True, metavar="HOST", help="Approved DNS name (repeatable) [default: the label's]."
)
@click.option("--ip", "ips", multiple=True, metavar="ADDR", help="Approved IP address (repeatable).")
@click.option("--role", default=None, help="Operator role [default: the label's].")
@click.option("--days", type=click.IntRange(1, 36500), default=None, help="Validity [default: the label's].")
@click.option("--reject", is_flag=True, help="Refuse it: the device's next try gets 403.")
@password_file_option
@store_dir_option
@click.pass_context
def approve(ctx: click.Context, request_id: str, dns, ips, role, days, reject: bool, password_file) -> None:
    """Approve the pending EST enrollment ID ('wsctl certs pending'): the
    certificate is signed now, and the device gets it at its next retry.

    Only the CSR's public key is used, as in 'wsctl certs sign'.

    \b
    EXAMPLES
      wsctl certs approve 3f9a1c2e --dns cam-7.plant.local --ip 10.0.0.77
      wsctl certs approve 3f9a1c2e --reject
    """
    from wsctl.core.errors import StoreError
    from wsctl.pki.enrollment_db import EnrollmentBook
    from wsctl.pki.est_enroll import expire_pending
    from wsctl.pki.index import format_serial

    env: Environment = ctx.obj
    store = get_store(ctx)
    store.require()
    book = EnrollmentBook(store.path)
    expire_pending(store, book)
    row = book.get_pending(request_id)
    if row.status == "expired":
        raise StoreError(
            f"enrollment {row.id} expired before it was approved; the device has to ask again (a new key and CSR)"
        )
    if row.status != "pending":
        raise StoreError(f"enrollment {row.id} was already {row.status}")
    if reject:
        if not book.decide(row.id, "rejected"):
            raise StoreError(f"enrollment {row.id} was decided or expired meanwhile")
        store.audit("est-approve", f"{row.kind}:{row.name}", None, "rejected", request=row.id, label=row.label)
        env.emit({"id": row.id, "status": "rejected"}, f"rejected enrollment {row.id} of {row.kind} {row.name}")
        return
    entry = store.sign_csr(
        row.csr,
        kind=row.kind,
        name=row.name,
        dns=dns or row.dns,
        ips=ips,
        role=role or row.role,
        days=days or row.days,
        password=store_password(env, password_file),
    )
    if not book.decide(row.id, "approved", format_serial(entry.serial)):
        raise StoreError(
            f"enrollment {row.id} was decided meanwhile; serial {format_serial(entry.serial)} is unused: revoke it"
        )
    store.audit("est-approve", f"{row.kind}:{row.name}", entry.serial, "ok", request=row.id, label=row.label)
    env.emit(entry_record(entry, action="approve"), entry_human(entry, f"approved {row.id}: signed"))
