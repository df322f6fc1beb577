"""`wsctl hub --listen ...`: run the hub until Ctrl-C/SIGTERM."""

from __future__ import annotations

from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.core.errors import UsageError


def run_hub(env: Environment, **o: Any) -> None:
    from wsctl.cli.support.listen import parse_listen, probe_listen, server_limits
    from wsctl.cli.support.server_setup import server_tls

    host, port = parse_listen(o["listen"])
    plain = None
    if o["plain_listen"]:
        if not o["allow_security_profile_1"]:
            raise UsageError(
                "--plain-listen admits devices over plain ws:// (security profile 1): say so with --allow-security-profile-1"
            )
        plain = parse_listen(o["plain_listen"])
        probe_listen(*plain)
    elif o["allow_security_profile_1"]:
        raise UsageError("--allow-security-profile-1 needs --plain-listen HOST:PORT (a listener of its own)")
    tls, password, _ = server_tls(
        env, o["certs"], o["device"], o["cert"], o["key"], o["ca"], o["crl"], o["password_file"], None, False
    )
    if not tls.get("ca"):
        raise UsageError("a hub needs the CA of its devices and operators: --certs DIR, or --ca FILE")
    probe_listen(host, port)
    o["federation"] = _federation_options(o, tls, password)
    if o["federation"] is not None and o["federation"]["tls"] is None:
        env.warn(
            f"{o['broker']}: plain MQTT: every command and reading crosses the network in clear text, "
            "and anyone who reaches the broker can pose as this hub"
        )
    if o["record_dir"]:
        import os

        os.makedirs(o["record_dir"], mode=0o700, exist_ok=True)
    limits = server_limits(o)
    options = dict(host=host, port=port, password=password, **tls, **limits)
    plain_options = dict(host=plain[0], port=plain[1], **limits) if plain else None
    if plain_options is not None:
        plain_options["access_log"] = None  # set with the TLS listener's in _serve
    if plain:
        env.warn(
            f"security profile 1 on ws://{plain[0]}:{plain[1]}: device passwords and every message cross the network "
            "in clear text"
        )
    _serve(env, o, options, plain_options)


def _serve(env: Environment, o: dict[str, Any], options: dict[str, Any], plain: dict[str, Any] | None) -> None:
    from wsctl.cli.support.runtime import run_async
    from wsctl.cli.support.server_setup import metrics_listener, metrics_on_tls_port
    from wsctl.files.profiles import load_profile
    from wsctl.net.hub.hub import Hub
    from wsctl.registry import Registry

    metrics = metrics_listener(o["metrics_listen"], "hub")
    options = {**options, **metrics_on_tls_port(metrics, options)}  # the TLS listener only, not --plain-listen
    signer = _signer(env, o)
    registry = Registry.open(o["registry"])
    try:
        hub = Hub(
            registry,
            load_profile=load_profile,
            default_profile=o["default_profile"],
            device_paths=o["device_paths"],
            approval=o["approval"],
            record_dir=o["record_dir"],
            record_max_size=o["record_max_size"],
            metrics=metrics[0] if metrics else None,
            signer=signer,
        )

        federation = _federation(hub, o["federation"])

        async def main() -> None:
            import trio

            from wsctl.cli.support.server_setup import access_line, start_metrics

            access = access_line(env, metrics[0] if metrics else None)
            async with trio.open_nursery() as nursery:
                if federation is not None:
                    await nursery.start(lambda task_status: federation.run(task_status=task_status))
                    env.info(f"hub {federation.hub_id} joined {federation.tree.base} on {federation.link.broker.shown}")
                if plain is not None:
                    plain["access_log"] = access
                started = await nursery.start(
                    lambda task_status: hub.run(task_status=task_status, plain=plain, access_log=access, **options)
                )
                servers = started if isinstance(started, list) else [started]
                urls = [u for s in servers for u in s.urls]
                paths = [t.text for t in hub.device_paths]
                extra: dict[str, Any] = {}
                if metrics:
                    metrics[0].bind_hub(hub)
                    extra["metrics"] = start_metrics(metrics, servers[0])
                env.emit(
                    {
                        "event": "listening",
                        "url": servers[0].url,
                        "urls": urls,
                        "device_paths": paths,
                        "registry": o["registry"],
                        **extra,
                        **({"federation": federation.tree.base, "hub_id": federation.hub_id} if federation else {}),
                    },
                    f"hub listening on {', '.join(urls)}; devices dial {', '.join(paths)}; "
                    f"operators connect to /devices/ID (registry {o['registry']})"
                    + (f"; metrics at {extra['metrics']}" if extra else ""),
                )
                from wsctl.net.gc_tuning import tune

                tune()  # start-up is over: docs/performance.md, "Garbage collector"

        from wsctl.cli.support.server_output import server_stdout

        with server_stdout(env):
            run_async(main)
    finally:
        registry.close()
        if metrics:
            metrics[0].stop()


def _signer(env: Environment, o: dict[str, Any]) -> Any:
    """The CA the hub signs chargers' CSRs with (--sign-certificates): its
    passphrase is read once, at start, and kept only in this process."""
    if not o["sign_certificates"]:
        if o["ca_password_file"]:
            raise UsageError("--ca-password-file is for --sign-certificates")
        return None
    if not o["certs"]:
        raise UsageError("--sign-certificates needs the plant store: --certs DIR")
    from wsctl.cli.support.passwords import read_password
    from wsctl.net.hub.cert_manager import CertificateSigner
    from wsctl.pki.store import Store

    store = Store(o["certs"])
    password = read_password(env, password_file=o["ca_password_file"], option="--ca-password-file")
    store.check_ca_password(password)  # a wrong passphrase fails now, not at the first charger's CSR
    return CertificateSigner(store, password, days=o["certificate_days"])


def _federation_options(o: dict[str, Any], tls: dict[str, Any], password: bytes | None) -> dict[str, Any] | None:
    """The checked federation settings of --broker, or None; its flags only with it."""
    if not o["broker"]:
        for flag, key in (
            ("--hub-id", "hub_id"),
            ("--site", "site"),
            ("--mqtt-command-role", "mqtt_command_role"),
            ("--allow-plain-mqtt", "allow_plain_mqtt"),
            ("--no-shared-registry", "no_shared_registry"),
        ):
            if o[key]:
                raise UsageError(f"{flag} needs --broker URL")
        return None
    from wsctl.core import roles
    from wsctl.core.hub.topics import check_level

    if not o["hub_id"] or not o["site"]:
        raise UsageError("--broker needs --hub-id ID and --site SITE (the hub's name and its topic tree)")
    check_level(o["hub_id"], "hub id")
    check_level(o["site"], "site")
    role = o["mqtt_command_role"]
    if role is not None and role not in roles.KNOWN:
        raise UsageError(f"--mqtt-command-role {role!r}: one of {', '.join(roles.KNOWN)}")
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        raise UsageError("--broker needs paho-mqtt", hint="pip install 'wsctl[federation]'") from None
    from wsctl.net.federation.broker_url import parse_broker_url

    broker = parse_broker_url(o["broker"], allow_plain=o["allow_plain_mqtt"])
    context = None
    if broker.tls:
        from wsctl.net.tls import client_context

        context = client_context(ca=tls["ca"], cert=tls["cert_chain"], key=tls["key"], password=password)
    return {
        "broker": broker,
        "hub_id": o["hub_id"],
        "site": o["site"],
        "tls": context,
        "command_role": role,
        "share_registry": not o["no_shared_registry"],
    }


def _federation(hub: Any, options: dict[str, Any] | None) -> Any:
    if options is None:
        return None
    from wsctl.net.federation.federation import Federation

    return Federation(hub, **options)
