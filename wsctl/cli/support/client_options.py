"""Options every client verb shares, and how a target becomes connect arguments.

A TARGET is a `wss://` URL, a device alias or a group from an inventory file, or
a comma-separated list of them.  Command-line options override what the
inventory says for the device.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import click

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput, UsageError

if TYPE_CHECKING:  # tomllib and the inventory parser load only when a command runs
    from wsctl.core.device_entry import DeviceEntry
    from wsctl.core.inventory import Inventory

INVENTORY_NAMES = ("wsctl-inventory.toml",)
#: a plant's inventory of thousands of devices is a few MiB at most
INVENTORY_MAX_BYTES = 16 * 2**20


_crl_option = click.option(
    "--crl",
    type=click.Path(dir_okay=False),
    help="Refuse a device whose certificate this CRL revokes (PEM or DER) [default: the store's, with its CA].",
)


def _options() -> list[Callable]:
    """Every client verb's connection options, in the order --help lists them."""
    return [*_identity_options(), *_trust_options(), *_handshake_options()]


def _identity_options() -> list[Callable]:
    """Who we are: inventory, store, operator certificate and key."""
    o = click.option
    return [
        o(
            "--inventory",
            "inventory",
            type=click.Path(dir_okay=False),
            envvar="WSCTL_INVENTORY",
            help="Inventory file of devices and groups [default: ./wsctl-inventory.toml, then ~/.config/wsctl/inventory.toml].",
        ),
        o(
            "--certs",
            "certs",
            type=click.Path(file_okay=False),
            help="PKI store: CA and operator certificate come from it (env WSCTL_CERTS).",
        ),
        o("--operator", help="Operator certificate NAME from the store (--certs)."),
        o(
            "--ca",
            type=click.Path(dir_okay=False),
            help="CA certificate(s) to verify the device [default: the store's, else system trust].",
        ),
        _crl_option,
        o("--cert", type=click.Path(dir_okay=False), help="Client certificate chain (PEM)."),
        o(
            "--key",
            type=click.Path(dir_okay=False),
            help="Client private key (PEM; encrypted keys ask for a passphrase).",
        ),
        o(
            "--password-file",
            type=click.Path(dir_okay=False),
            help="Passphrase of the client key (else env WSCTL_KEY_PASSWORD, WSCTL_PASSWORD, or a prompt).",
        ),
    ]


def _trust_options() -> list[Callable]:
    """How the device's certificate is trusted besides the CA."""
    o = click.option
    return [
        o("--pin", help="Accept only this certificate: sha256:HEX (see `wsctl certs fingerprint`)."),
        o(
            "--known-devices",
            type=click.Path(dir_okay=False),
            envvar="WSCTL_KNOWN_DEVICES",
            help="Remember each device's certificate on first use and refuse a changed one.",
        ),
        o("--trust-new", is_flag=True, help="Accept and remember a changed certificate in --known-devices."),
        o(
            "--tofu",
            is_flag=True,
            help="Trust on first use, as ssh does: remember each device's certificate in --known-devices "
            "[default: $XDG_CONFIG_HOME/wsctl/known_devices] and refuse a changed one; no CA needed.",
        ),
        o("--tls-server-name", help="Name to verify (and send as SNI) instead of the URL's host."),
    ]


def _handshake_options() -> list[Callable]:
    """What the upgrade carries, the loud escapes, and the bounds."""
    o = click.option
    return [
        o("--subprotocol", "subprotocols", multiple=True, help="Offer this subprotocol (repeatable)."),
        o("--header", "headers", multiple=True, help="Extra handshake header 'Name: value' (repeatable)."),
        o(
            "--queue",
            "queue_ttl",
            type=click.FloatRange(min=1, max=7 * 86400),
            default=None,
            metavar="SECONDS",
            help="Through a wsctl hub: if the device is offline, its calls wait in the hub for S seconds "
            "and are delivered when it comes back.",
        ),
        *basic_auth_options(),
        o("--insecure", is_flag=True, help="Do NOT verify the device's certificate. Never for production."),
        o("--allow-plaintext", is_flag=True, help="Allow ws:// (no TLS at all)."),
        o(
            "--connect-timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Seconds for TCP + TLS + WebSocket handshake.",
        ),
        o(
            "--ping-interval",
            type=click.FloatRange(min=0.0),
            default=None,
            help="Keepalive ping every S seconds; a dead link is noticed within S + 10 s [default: 30 for watch and connect, off for one-shot verbs; 0: off].",
        ),
        o(
            "--max-message-size",
            type=click.IntRange(min=1),
            default=2**20,
            show_default=True,
            help="Largest message accepted, bytes.",
        ),
    ]


def fleet_options(fn: Callable) -> Callable:
    """--parallel, for the verbs that contact devices with a bound (send, run);
    `watch` watches every device at once and the others talk to one device."""
    return click.option(
        "--parallel",
        type=click.IntRange(min=1),
        default=16,
        show_default=True,
        help="Devices contacted at once (fleets).",
    )(fn)


BASIC_AUTH_ENV = "WSCTL_BASIC_AUTH_PASSWORD"


def basic_auth_options() -> list[Callable]:
    """--basic-auth USER and where its password comes from (shared with `serve --dial`)."""
    return [
        click.option(
            "--basic-auth",
            metavar="USER",
            help=f"HTTP Basic auth as USER (OCPP security profile 2); password from --basic-auth-password-file, env {BASIC_AUTH_ENV}, or a prompt.",
        ),
        click.option(
            "--basic-auth-password-file",
            type=click.Path(dir_okay=False),
            help="File holding the --basic-auth password.",
        ),
    ]


def basic_auth_credentials(
    env: Environment, url: str, user: str | None, password_file: str | None
) -> tuple[str, str] | None:
    """(user, password) for open_device, or None when the URL carries them itself (or none are wanted).

    ``wss://CP-1@host/`` (a user without password) asks for the password like
    --basic-auth does; a password is never taken from the command line itself
    except inside the URL, where it is never printed back.
    """
    url_user = None
    if "@" in url:  # no userinfo without one: not parsed again for every device of a fleet
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(url)
            url_user = unquote(parts.username) if parts.username is not None and parts.password is None else None
        except ValueError:
            pass
    user = user or url_user
    if user is None:
        if password_file:
            raise UsageError("--basic-auth-password-file needs --basic-auth USER")
        return None
    from wsctl.cli.support.passwords import read_password

    password = read_password(
        env,
        password_file=password_file,
        env_var=BASIC_AUTH_ENV,
        prompt=f"Basic auth password for {user}",
        option="--basic-auth-password-file",
    )
    return user, password.decode("utf-8")


def known_devices_default(environ: dict[str, str]) -> Any:
    from wsctl.core.known_devices import default_path

    return default_path(environ)


#: the options `client_options` adds, as `ClientOptions` attributes
CLIENT_OPTION_NAMES = (
    "inventory",
    "certs",
    "operator",
    "ca",
    "crl",
    "cert",
    "key",
    "password_file",
    "pin",
    "known_devices",
    "trust_new",
    "tofu",
    "tls_server_name",
    "subprotocols",
    "headers",
    "queue_ttl",
    "basic_auth",
    "basic_auth_password_file",
    "insecure",
    "allow_plaintext",
    "connect_timeout",
    "ping_interval",
    "max_message_size",
)


def client_options(fn: Callable) -> Callable:
    """Add the shared client options; the command receives them as `client: ClientOptions`."""
    return _with_client_options(fn, _options())


def client_options_without_crl(fn: Callable) -> Callable:
    """`client_options` for a verb whose own ``--crl`` is about its server side
    (`record proxy`: the tools' certificates); the device's CRL is then the
    store's (with its CA) or the inventory's ``crl``."""
    return _with_client_options(fn, [o for o in _options() if o is not _crl_option], without=("crl",))


def _with_client_options(fn: Callable, options: list[Callable], without: tuple[str, ...] = ()) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        given = {name: None if name in without else kwargs.pop(name) for name in CLIENT_OPTION_NAMES}
        kwargs["client"] = ClientOptions(**given, parallel=kwargs.pop("parallel", 16))
        return fn(*args, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


class ClientOptions:
    """The client options of one command (`client_options`), as attributes."""

    inventory: str | None
    certs: str | None
    operator: str | None
    ca: str | None
    crl: str | None
    cert: str | None
    key: str | None
    password_file: str | None
    pin: str | None
    known_devices: str | None
    trust_new: bool
    tofu: bool
    tls_server_name: str | None
    subprotocols: tuple[str, ...]
    headers: tuple[str, ...]
    queue_ttl: float | None
    basic_auth: str | None
    basic_auth_password_file: str | None
    insecure: bool
    allow_plaintext: bool
    connect_timeout: float
    ping_interval: float | None
    max_message_size: int
    #: only `send` and `run` fan out with a bound (`fleet_options`)
    parallel: int

    # a plain class, not a dataclass: built at every client verb's start (docs/performance.md, Start-up)
    def __init__(self, *, parallel: int = 16, **options: Any) -> None:
        unknown = options.keys() - set(CLIENT_OPTION_NAMES)
        if unknown:
            raise TypeError(f"unknown client options: {sorted(unknown)}")
        for name in CLIENT_OPTION_NAMES:
            setattr(self, name, options[name])
        self.parallel = parallel


def _find_inventory(env: Environment, explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise InvalidInput(f"inventory file not found: {explicit}")
        return path
    candidates = [Path(name) for name in INVENTORY_NAMES]
    from wsctl.core.xdg import config_dir

    candidates.append(Path(os.path.expanduser(config_dir(env.environ, windows=os.name == "nt"))) / "inventory.toml")
    return next((path for path in candidates if path.is_file()), None)


def load_inventory(env: Environment, explicit: str | None) -> Inventory:
    from wsctl.core.inventory import Inventory, parse_inventory

    path = _find_inventory(env, explicit)
    if path is None:
        return Inventory()
    env.debug(f"inventory: {path}")
    from wsctl.files.regular import decode_utf8, read_regular

    # an inventory may come from elsewhere too: a regular file, bounded, UTF-8
    text = decode_utf8(read_regular(path, limit=INVENTORY_MAX_BYTES, what="inventory"), str(path))
    return parse_inventory(text, source=str(path), base=PurePath(path.resolve().parent))


def resolve_targets(env: Environment, target: str | tuple[str, ...], client: ClientOptions) -> list[DeviceEntry]:
    """Expand TARGET(s) (URLs, aliases, groups, comma lists) into device entries with overrides applied."""
    from wsctl.core.device_entry import url_entry, with_overrides

    raw = [target] if isinstance(target, str) else list(target)
    names = [part.strip() for item in raw for part in item.split(",") if part.strip()]
    if not names:
        raise UsageError("no target given")
    if client.inventory or any("://" not in name for name in names):
        entries = load_inventory(env, client.inventory).resolve_all(names)
    else:  # URLs only: the inventory code is not even imported (start-up time)
        unique: dict[str, DeviceEntry] = {}
        for entry in map(url_entry, names):
            unique.setdefault(entry.name, entry)  # the first of duplicates, as Inventory.resolve_all
        entries = list(unique.values())
    certs = client.certs
    if certs is None and client.operator:
        # --operator names a certificate in the store `wsctl certs` uses by default
        from wsctl.cli.support.store_files import default_store

        found = default_store(env.environ)
        if found is None:
            raise UsageError(
                f"--operator {client.operator}: no PKI store to take it from",
                hint="give --certs DIR (or set WSCTL_CERTS); ./certs is not a store",
            )
        certs = str(found)
    return [
        with_overrides(
            entry,
            certs=certs,
            operator=client.operator,
            ca=client.ca,
            crl=client.crl,
            cert=client.cert,
            key=client.key,
            pin=client.pin,
            tls_server_name=client.tls_server_name,
            subprotocols=client.subprotocols,
            headers=client.headers,
            password_file=client.password_file,
        )
        for entry in entries
    ]


def one_target(env: Environment, target: str, client: ClientOptions, *, what: str, hint: str) -> DeviceEntry:
    """The one device TARGET names, for a verb that talks to exactly one."""
    entries = resolve_targets(env, target, client)
    if len(entries) != 1:
        raise UsageError(f"{what} takes one device, {target!r} names {len(entries)}", hint=hint)
    return entries[0]


def reach(
    env: Environment, entry: DeviceEntry, client: ClientOptions, profile: Any = None
) -> tuple[str, dict[str, Any]]:
    """How to open one resolved device: its URL and `open_device` keyword arguments, with
    the profile's transport (its path when the URL has none, its subprotocols unless
    some were chosen) when it has a profile.  Every client verb reaches a device this way."""
    check_url(entry.url, allow_plaintext=client.allow_plaintext)
    url, kwargs = entry.url, connect_kwargs(env, entry, client)
    if profile is None:
        return url, kwargs
    from wsctl.cli.support.profile_use import apply_profile_transport

    return apply_profile_transport(url, kwargs, profile)


def check_url(url: str, *, allow_plaintext: bool = False) -> None:
    """Refuse a malformed or plaintext URL (exit 2) before a verb writes a file,
    listens, asks for a passphrase or says it started: the checks `open_device` makes."""
    from wsctl.net.client_open import parse_target

    parse_target(url, allow_plaintext=allow_plaintext)


def _queue_header(ttl: float | None) -> tuple[tuple[str, str], ...]:
    # the hub's name for it: wsctl.net.hub.hub.QUEUE_HEADER (cli must not import net at start-up)
    return (("Wsctl-Queue", f"{ttl:g}"),) if ttl else ()


#: handshake headers wsctl writes itself; a second copy would make the request
#: invalid HTTP or lie about the upgrade (name -> where the value comes from)
OWN_HEADERS = {
    "host": "the URL's host",
    "upgrade": "the WebSocket upgrade",
    "connection": "the WebSocket upgrade",
    "sec-websocket-key": "the WebSocket upgrade",
    "sec-websocket-version": "the WebSocket upgrade",
    "sec-websocket-extensions": "the WebSocket upgrade (wsctl negotiates no extensions)",
    "sec-websocket-protocol": "--subprotocol",
    "content-length": "the WebSocket upgrade (it has no body)",
    "transfer-encoding": "the WebSocket upgrade (it has no body)",
}
#: RFC 9110 token characters: what a header name may be made of
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_headers(headers: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """'Name: value' strings as (name, value) pairs, refusing what HTTP would refuse
    and the headers wsctl sets itself (`OWN_HEADERS`)."""
    pairs = []
    for header in headers:
        name, sep, value = header.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not _TOKEN.issuperset(name):
            raise UsageError(f"bad header {header!r}: expected 'Name: value' (a name of letters, digits and -)")
        if any((c < " " and c != "\t") or c == "\x7f" for c in value):
            raise UsageError(f"bad header {header!r}: its value holds a control character")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise UsageError(
                f"bad header {header!r}: HTTP header values are Latin-1; this one is not",
                hint="percent- or base64-encode the value",
            ) from None
        source = OWN_HEADERS.get(name.lower())
        if source is not None:
            raise UsageError(f"header {name!r} is set by wsctl, from {source}; --header cannot replace it")
        pairs.append((name, value))
    return tuple(pairs)


def key_file_is_encrypted(path: str) -> bool:
    """Whether the PEM key file needs a passphrase (the one rule: wsctl.core.pem)."""
    from wsctl.core.pem import is_encrypted_pem

    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise InvalidInput(f"cannot read key {path}: {exc.strerror or exc}") from None
    return is_encrypted_pem(head)


#: long-running verbs ping by default: a device that lost power or a NAT that
#: forgot the flow is otherwise only noticed at the next send, which a watch never does
LONG_RUNNING_PING_INTERVAL = 30.0


def long_running(client: ClientOptions) -> ClientOptions:
    """The options with the keepalive default of watch/connect applied."""
    if client.ping_interval is None:
        client.ping_interval = LONG_RUNNING_PING_INTERVAL
    return client


TlsFiles = tuple[Any, str | None, str | None, bytes | None, str | None]


def tls_files(env: Environment, entry: DeviceEntry, *, insecure: bool = False) -> TlsFiles:
    """(ca, cert, key, key passphrase, crl) of an entry, worked out once per command
    for each combination of the entry's fields: a fleet's 1,000 entries share
    one store and operator, and looking up their files, reading the key's
    header and the passphrase was ~0.3 ms per device (docs/performance.md,
    fan-out); the passphrase is asked for once, not per device."""
    fields = (entry.certs, entry.operator, entry.ca, entry.cert, entry.key, entry.password_file, entry.crl, insecure)
    found = env.memo.get(fields)
    if found is None:
        found = env.memo[fields] = _resolve_tls_files(env, entry, insecure)
    return found


def _resolve_tls_files(env: Environment, entry: DeviceEntry, insecure: bool) -> TlsFiles:
    from wsctl.cli.support.passwords import KEY_ENV, STORE_ENV, read_password

    ca: str | list[str] | None = entry.ca
    crl = entry.crl
    cert, key = entry.cert, entry.key
    if entry.certs:
        from wsctl.cli.support import store_files

        store = Path(entry.certs)
        if ca is None:
            # the store's CA and its CRL go together: a device it revoked is refused
            # (with --insecure nothing is checked, the CRL no more than the chain)
            ca = store_files.ca_files(store)
            crl = crl or (None if insecure else store_files.crl_file_if_any(store))
            if crl is None and not insecure:
                # an operator's copy of the store may hold no CRL: connect, but say so
                env.warn(
                    f"{store} has no CRL (ca/crl.pem): the device's certificate is not checked for revocation; "
                    "copy the plant's ca/crl.pem there or give --crl"
                )
        if entry.operator and not cert:
            cert, key = store_files.operator_files(store, entry.operator)
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together")
    if cert and (os.path.isdir(cert) or not os.path.exists(cert)):
        # the certificate is named first: "cannot read key" alone hid that it is missing too
        reason = "it is a directory" if os.path.isdir(cert) else "no such file"
        raise InvalidInput(f"cannot read certificate {cert}: {reason}")
    password = None
    if key and key_file_is_encrypted(key):
        password = read_password(
            env,
            password_file=entry.password_file,
            env_var=KEY_ENV,
            fallbacks=[(None, STORE_ENV)],
            prompt=f"passphrase for {key}",
        )
    return ca, cert, key, password, crl


def connect_kwargs(env: Environment, entry: DeviceEntry, client: ClientOptions) -> dict[str, Any]:
    """Arguments for `wsctl.net.api.open_device` from an inventory entry plus options."""
    ca, cert, key, password, crl = tls_files(env, entry, insecure=client.insecure)
    if client.insecure and "warned insecure" not in env.memo:
        env.memo["warned insecure"] = True  # once per command, not once per device of a fleet
        env.warn("--insecure: the device's certificate is NOT verified; anyone on the path can impersonate it")
    return {
        "ca": ca,
        "cert": cert,
        "key": key,
        "password": password,
        "crl": crl,
        "pin": entry.pin,
        "known_devices": client.known_devices or (str(known_devices_default(env.environ)) if client.tofu else None),
        "trust_new": client.trust_new,
        "tofu": client.tofu,
        "tls_server_name": entry.tls_server_name,
        "subprotocols": tuple(entry.subprotocols),
        "headers": parse_headers(tuple(entry.headers)) + _queue_header(client.queue_ttl),
        "basic_auth": basic_auth_credentials(env, entry.url, client.basic_auth, client.basic_auth_password_file),
        "insecure": client.insecure,
        "allow_plaintext": client.allow_plaintext,
        "connect_timeout": client.connect_timeout,
        "max_message_size": client.max_message_size,
        "ping_interval": client.ping_interval or None,
    }


def note_subprotocol(env: Environment, name: str, device: Any, offered: tuple[str, ...]) -> None:
    """Warn when subprotocols were offered and the device chose none: it
    accepted the connection but may not speak what we are about to send."""
    if offered and device.subprotocol is None:
        env.warn(f"{name}: offered subprotocol(s) {', '.join(offered)}; the device chose none")
