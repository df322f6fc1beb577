"""`wsctl hub`: run the central side devices dial into, and manage its registry.

`wsctl hub --listen ... --certs DIR --device NAME` runs the hub (`run.py`);
the subcommands manage the registry it keeps (devices, id tags, audit).  Each
lives in its own module, imported only when it runs.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup
from wsctl.cli.support.env import Environment
from wsctl.cli.support.listen import limit_options, timing_options

VERBS = {
    name: f"wsctl.cli.hub.{module}:{attr}"
    for name, module, attr in (
        ("devices", "devices", "devices"),
        ("id-tags", "id_tags", "id_tags"),
        ("audit", "audit", "audit"),
        ("inventory", "inventory", "inventory"),
        ("certs", "certs", "certs"),
    )
}

EPILOG = """\b
EXAMPLES
  wsctl hub devices add CP-17 --profile ocpp16                # register a charger (mTLS)
  wsctl hub --listen 0.0.0.0:8443 --certs certs --device hub   # run the hub
  wsctl serve --profile ocpp16-charger --dial wss://hub:8443/ocpp/CP-17 --certs certs --device CP-17
  wsctl send wss://hub:8443/devices/CP-17 Reset type=Soft --certs certs --operator alice --yes
  wsctl --json hub devices                                     # who is online, since when
  wsctl hub --certs certs --device hub-a --broker mqtts://broker:8883 --hub-id hub-a --site plant-1
"""


@click.group("hub", cls=LazyGroup, lazy_commands=VERBS, invoke_without_command=True, epilog=EPILOG)
@click.option(
    "--listen",
    default="127.0.0.1:8443",
    show_default=True,
    metavar="HOST:PORT",
    help="Where devices and operators connect (wss).",
)
@click.option(
    "--registry",
    type=click.Path(dir_okay=False),
    envvar="WSCTL_HUB_REGISTRY",
    default="hub.db",
    show_default=True,
    help="The hub's registry (SQLite) [env WSCTL_HUB_REGISTRY].",
)
@click.option("--certs", type=click.Path(file_okay=False), envvar="WSCTL_CERTS", help="PKI store (with --device).")
@click.option("--device", help="The hub's own certificate NAME from the store (a device certificate).")
@click.option("--cert", type=click.Path(dir_okay=False), help="Server certificate chain (PEM), instead of the store.")
@click.option("--key", type=click.Path(dir_okay=False), help="Server private key (PEM).")
@click.option(
    "--ca", type=click.Path(dir_okay=False), help="CA of device and operator certificates [default: the store's]."
)
@click.option(
    "--crl",
    type=click.Path(dir_okay=False),
    help="CRL checked against client certificates [default with --certs: the store's, also with a --ca holding the store's CA].",
)
@click.option("--password-file", type=click.Path(dir_okay=False), help="Passphrase of the hub's key.")
@click.option(
    "--profile", "default_profile", metavar="NAME|FILE", help="Profile of devices not yet registered (with --approval)."
)
@click.option(
    "--device-path",
    "device_paths",
    multiple=True,
    metavar="TEMPLATE",
    help="Path devices dial, with {id} (e.g. /ocpp/{id}; repeatable) [default: from the registered devices' profiles].",
)
@click.option(
    "--approval", is_flag=True, help="Unknown devices wait as pending until approved, instead of being refused."
)
@click.option(
    "--record-dir", type=click.Path(file_okay=False), help="Record every device connection to DIR (one file each)."
)
@click.option(
    "--record-max-size", type=click.IntRange(min=4096), default=None, help="Bytes per recording file before it rotates."
)
@click.option(
    "--plain-listen",
    metavar="HOST:PORT",
    help="A second, plaintext ws:// listener for security profile 1 devices (needs --allow-security-profile-1).",
)
@click.option(
    "--allow-security-profile-1",
    is_flag=True,
    help="Admit devices over plain ws:// with a password (OCPP security profile 1): readable by anyone on the network.",
)
@limit_options(peers="devices and operators", connections=20000, handshakes=512, per_source=64)
@timing_options(message_size=2**16, handshake_timeout=10.0, idle_timeout=900.0)
@click.option(
    "--sign-certificates",
    is_flag=True,
    help="Sign the CSRs chargers send (OCPP SignCertificate) with the plant CA of --certs; needs the CA passphrase.",
)
@click.option(
    "--ca-password-file",
    type=click.Path(dir_okay=False),
    help="With --sign-certificates: the store passphrase (else env WSCTL_PASSWORD, or a prompt).",
)
@click.option(
    "--certificate-days",
    type=click.IntRange(min=1, max=3650),
    default=365,
    show_default=True,
    help="With --sign-certificates: lifetime of the certificates the hub signs.",
)
@click.option(
    "--metrics",
    "metrics_listen",
    metavar="[HOST:]PORT|tls",
    default=None,
    help="Serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics [HOST default: 127.0.0.1], or with 'tls' "
    "at /metrics on the TLS port for operator certificates (observer and up) (needs prometheus-client).",
)
@click.option(
    "--broker",
    metavar="URL",
    help="Join a federation of hubs on an MQTT 5 broker: mqtts://HOST[:8883], mutual TLS with the hub's certificate "
    "(needs paho-mqtt; docs/federation.md).",
)
@click.option("--hub-id", metavar="ID", help="With --broker: this hub's name in the federation (unique per site).")
@click.option("--site", metavar="SITE", help="With --broker: the site, the topic level wsctl/v1/SITE/ (e.g. plant-1).")
@click.option(
    "--mqtt-command-role",
    metavar="ROLE",
    help="With --broker: the role of commands plant tools publish on wsctl/v1/SITE/devices/ID/cmd "
    "[default: such commands are refused].",
)
@click.option(
    "--allow-plain-mqtt",
    is_flag=True,
    help="Allow mqtt:// (no TLS): commands and readings in clear text, the hub unauthenticated.",
)
@click.option(
    "--no-shared-registry",
    is_flag=True,
    help="With --broker: keep this hub's registry to itself [default: devices added, approved, blocked or "
    "removed on any hub of the site hold on all of them; docs/federation.md].",
)
@click.pass_context
def hub(ctx: click.Context, **options: object) -> None:
    """Be the central side devices dial into; operators command them by name.

    Devices (OCPP chargers, controllers behind NAT) dial in with their device
    certificate (security profile 3) or TLS + a password (profile 2); operators
    connect to /devices/ID with their operator certificate and use every client
    verb unchanged. The registry keeps devices, presence, boot information,
    queued commands and the audit log. See docs/hub.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    from wsctl.cli.hub.run import run_hub

    run_hub(ctx.ensure_object(Environment), **options)
