"""`wsctl serve --profile P --dial URL`: the simulated device calls its central
system (an OCPP CSMS, `wsctl hub`, a Shelly cloud) instead of listening.

What it dials with is the device's own credentials, per OCPP security profile:

* 3 (default): TLS with the *device* certificate (`--certs DIR --device NAME`, or
  `--cert/--key`) — the identity the central system binds to the id in the path;
* 2: TLS without a client certificate, plus HTTP Basic with user = the device id
  (`--basic-auth USER`, the URL's userinfo, `--device NAME`, or the URL's last
  path segment) and its password from `--basic-auth-password-file`, the
  environment (`WSCTL_BASIC_AUTH_PASSWORD`) or a prompt — never the command line.

An operator certificate is refused: it names a person with a role, and a
central system would take the charger for that person.

A charger profile with `[sim.certificates]` renews its certificate when the
central system asks (docs/simulator.md, "Certificates"): the new chain and key
are written next to the certificate it dialed with, when that directory is
writable (`chain.SERIAL.pem`, `key.SERIAL.pem`; the key encrypted as the old
one was), and each step is one `{"event": "certificate"}` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from wsctl.cli.support.env import Environment
from wsctl.core.errors import UsageError

SECURITY_PROFILES = ("2", "3")
OPERATOR_REFUSED = (
    "serve --dial presents a device certificate: --certs DIR --device NAME "
    "(--operator is an operator's certificate, for client verbs)"
)


def device_id(url: str, device: str | None) -> str | None:
    """The id the device dials as: --device, else the URL's last path segment (OCPP: /ocpp/CP-17)."""
    if device:
        return device
    try:
        segment = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    except ValueError:
        return None
    return unquote(segment) or None


def _url_has_user(url: str) -> bool:
    try:
        return urlsplit(url).username is not None
    except ValueError:
        return False


def _dial_tls(
    env: Environment, *, certs, device, cert, key, ca, password_file, security_profile: str
) -> tuple[Any, Any, Any, bytes | None]:
    """(ca, cert, key, key passphrase) the simulated device dials with: the store's, or files."""
    from wsctl.cli.support.client_options import key_file_is_encrypted
    from wsctl.cli.support.passwords import KEY_ENV, STORE_ENV, read_password

    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together")
    if cert:
        _tell_renewed(env, cert, key)
    if security_profile == "2":
        if cert:
            raise UsageError(
                "--security-profile 2 dials without a client certificate (TLS + HTTP Basic): "
                "drop --cert/--key, or use --security-profile 3"
            )
        return (ca or (_store_cas(certs) if certs else None)), None, None, None
    if certs:
        from wsctl.cli.support import store_files

        ca = ca or _store_cas(certs)
        if device and not cert:
            cert, key = _newest(env, *store_files.device_files(Path(certs), device))
    elif device and not cert:
        raise UsageError("--device needs --certs (the store it comes from)")
    if not cert:
        raise UsageError(
            "serve --dial presents the device's certificate (security profile 3): "
            "--certs DIR --device NAME, or --cert FILE --key FILE",
            hint="--security-profile 2 dials with TLS + HTTP Basic instead",
        )
    password = None
    if key_file_is_encrypted(key):
        password = read_password(
            env,
            password_file=password_file,
            env_var=KEY_ENV,
            fallbacks=[(None, STORE_ENV)],
            prompt=f"passphrase for {key}",
        )
    return ca, cert, key, password


def _newest(env: Environment, cert: str, key: str) -> tuple[str, str]:
    """The store's files of the device, or the renewed ones a renewal wrote beside them."""
    from wsctl.net.station_certs import renewed_beside

    renewed = renewed_beside(Path(cert), Path(key))
    if renewed is None:
        return cert, key
    env.info(f"dialing with the renewed certificate {renewed[0]} (key {renewed[1]})")
    return str(renewed[0]), str(renewed[1])


def _tell_renewed(env: Environment, cert: str, key: str) -> None:
    """--cert/--key are the operator's choice; a renewal's newer files beside them are only named."""
    from wsctl.net.station_certs import renewed_beside

    renewed = renewed_beside(Path(cert), Path(key))
    if renewed is not None:
        env.warn(
            f"a renewal wrote a newer certificate beside {cert}: --cert {renewed[0]} --key {renewed[1]} dial with it"
        )


def _store_cas(certs) -> list[str]:
    from wsctl.cli.support import store_files

    return store_files.ca_files(Path(certs))


def _dial_basic_auth(
    env: Environment, url: str, *, security_profile: str, device, basic_auth, basic_auth_password_file
) -> tuple[str, str] | None:
    """(user, password) for HTTP Basic, or None (none wanted, or the URL carries both)."""
    from wsctl.cli.support.client_options import basic_auth_credentials

    user = basic_auth
    if security_profile == "2" and user is None and not _url_has_user(url):
        user = device_id(url, device)
        if user is None:
            raise UsageError(
                "--security-profile 2 needs the device id as the Basic auth user: "
                "--device NAME, --basic-auth USER, or a URL ending in the id (/ocpp/CP-17)"
            )
    return basic_auth_credentials(env, url, user, basic_auth_password_file)


def run_dial(
    env: Environment,
    profile_name: str,
    url: str | tuple[str, ...],
    *,
    certs,
    device,
    cert,
    key,
    ca,
    password_file,
    security_profile: str,
    role: str,
    redial: float | None,
    audit_log: str | None,
    seed: int | None,
    scale: float,
    faults,
    max_message_size: int,
    headers: tuple[str, ...] = (),
    basic_auth: str | None = None,
    basic_auth_password_file: str | None = None,
) -> None:
    from wsctl.cli.serve.sim import make_simulator
    from wsctl.cli.support.client_options import parse_headers
    from wsctl.cli.support.runtime import run_async
    from wsctl.core import roles

    urls = (url,) if isinstance(url, str) else tuple(url)
    url = urls[0]  # credentials and the device id come from the first; the others are its fallbacks
    try:
        roles.expand(role)
    except ValueError as exc:
        raise UsageError(f"--central-role: {exc}") from None
    ca, cert, key, password = _dial_tls(
        env,
        certs=certs,
        device=device,
        cert=cert,
        key=key,
        ca=ca,
        password_file=password_file,
        security_profile=security_profile,
    )
    extra = {
        "headers": parse_headers(headers),
        "basic_auth": _dial_basic_auth(
            env,
            url,
            security_profile=security_profile,
            device=device,
            basic_auth=basic_auth,
            basic_auth_password_file=basic_auth_password_file,
        ),
    }
    sim = make_simulator(env, profile_name, audit_log=audit_log, seed=seed, scale=scale, faults=faults)
    if sim.profile.dialer != "device":
        env.warn(
            f'profile {sim.profile.id} says the tool dials the device (transport.dialer = "tool"); dialing out anyway'
        )
    if sim.station is not None:
        _keep_certificates(env, sim, cert)
    for each in urls:
        in_path = device_id(each, None)
        if device and security_profile == "3" and in_path not in (None, device):
            env.warn(f"the certificate names device {device}, the URL {in_path}: a hub refuses the mismatch")

    connect = dict(ca=ca, cert=cert, key=key, password=password, max_message_size=max_message_size, **extra)
    try:
        run_async(_dial_until_done, env, sim, urls, role, redial, security_profile, connect)
    finally:
        if sim.audit is not None:
            sim.audit.close()


def _keep_certificates(env: Environment, sim: Any, cert: Any) -> None:
    """Where a renewed certificate is written (beside the old one), and its lines in the output."""
    import os

    if cert:
        place = Path(cert).parent
        if os.access(place, os.W_OK):
            sim.keep_dir = place
        else:
            env.warn(f"{place} is not writable: a renewed certificate is kept in memory only")
    report = sim.report

    def with_certificate_lines(record: dict[str, Any]) -> None:
        if record.get("event") != "certificate":
            if report is not None:
                report(record)
            return
        if env.verbosity >= 0 or env.json:
            env.emit(record, _certificate_line(record))

    sim.report = with_certificate_lines


def _certificate_line(record: dict[str, Any]) -> str:
    text = f"{record['time']} certificate serial {record['serial']}: {record['action']}"
    if record.get("reason"):
        text += f" ({record['reason']})"
    written = record.get("written")
    if written:
        text += f"; written to {', '.join(written.values())}"
    elif record["action"] == "accepted":
        text += "; kept in memory only"
    return text


async def _dial_until_done(
    env: Environment, sim, urls: tuple[str, ...], role: str, redial, security_profile: str, connect
) -> None:
    import trio

    from wsctl.core.urls import public_url

    shown = ", ".join(public_url(u) for u in urls)
    env.emit(
        {
            "event": "dialing",
            "url": public_url(urls[0]),
            "urls": [public_url(u) for u in urls],
            "profile": sim.profile.id,
            "subprotocols": list(sim.profile.subprotocols),
            "security_profile": int(security_profile),
        },
        f"simulating {sim.profile.id}: dialing {shown} (security profile {security_profile})",
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        await sim.dial(urls, role=role, redial=redial, **connect)
        nursery.cancel_scope.cancel()
