"""Turning ssl/OS failures into one-line wsctl errors (DESIGN.md section 6).

Each function takes what the connect code knows at the moment of failure and
returns the `wsctl.core.errors` instance to raise; nothing here does I/O, so the
messages are tested without sockets.  The table in docs/tls.md mirrors this file.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import socket
import ssl
from pathlib import Path
from typing import Any

from wsctl.core.errors import ConnectError, TLSError, WsctlError

# OpenSSL X509_V_ERR_* codes seen on the client (SSLCertVerificationError.verify_code)
_UNKNOWN_CA = {2, 18, 19, 20, 21, 27}
_EXPIRED, _NOT_YET_VALID, _REVOKED = 10, 9, 23
_HOSTNAME_MISMATCH, _IP_MISMATCH = 62, 64
_INVALID_PURPOSE = 26
_CRL_EXPIRED = 12


def certificate_names(der: bytes | None) -> str:
    """``DNS:a, IP:1.2.3.4`` (or the CN) of a certificate, for mismatch messages."""
    if not der:
        return "(could not read the certificate)"
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "(unreadable certificate)"
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
        names += [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if not names:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names = [f"CN={cns[0].value}"] if cns else ["no names"]
    return ", ".join(names)


def _cert_detail(der: bytes | None) -> dict[str, str]:
    if not der:
        return {}
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {}
    return {
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        "not_after": f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
    }


def verify_failure(
    exc: ssl.SSLCertVerificationError, *, where: str, server_name: str, peer_der: bytes | None
) -> TLSError:
    """The device's certificate failed our checks."""
    code = exc.verify_code
    detail = _cert_detail(peer_der)
    if code == _HOSTNAME_MISMATCH:
        return TLSError(
            f"{where}: certificate is not valid for host name {server_name!r}; it names {certificate_names(peer_der)}",
            hint="connect by a name the certificate lists, or pass --tls-server-name",
        )
    if code == _IP_MISMATCH:
        return TLSError(
            f"{where}: certificate is not valid for IP address {server_name}; it names {certificate_names(peer_der)}",
            hint="connect by a name the certificate lists, or re-issue it with this IP address",
        )
    if code == _EXPIRED:
        when = f" on {detail['not_after']}" if detail else ""
        return TLSError(f"{where}: device certificate expired{when}", hint="renew the device certificate")
    if code == _NOT_YET_VALID:
        when = f" until {detail['not_before']}" if detail else ""
        return TLSError(f"{where}: device certificate is not valid yet{when} (check the clocks)")
    if code == _REVOKED:
        return TLSError(f"{where}: device certificate is revoked")
    if code in _UNKNOWN_CA:
        issuer = f" (issued by {detail['issuer']})" if detail else ""
        return TLSError(
            f"{where}: device certificate is signed by an unknown CA{issuer}",
            hint="pass the plant CA with --ca, or pin the certificate",
        )
    if code == _INVALID_PURPOSE:
        return TLSError(f"{where}: device certificate is not for TLS servers (extended key usage)")
    return TLSError(f"{where}: device certificate rejected: {exc.verify_message}")


# reason codes (ssl.SSLError.reason) of alerts the *device* sent about us, or of
# protocol mismatches
_PEER_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the device requires a client certificate; give --cert/--key",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the device rejected our client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the device does not trust the CA of our client certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the device says our client certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the device says our client certificate has expired (or the device's own CRL has expired)",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the device does not accept our client certificate type",
    "TLSV1_ALERT_ACCESS_DENIED": "the device denied access to our client certificate",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no common TLS version: wsctl requires TLS 1.2 or newer",
    "UNSUPPORTED_PROTOCOL": "the device only speaks TLS older than 1.2, which wsctl refuses",
    "NO_PROTOCOLS_AVAILABLE": "no common TLS version: wsctl requires TLS 1.2 or newer",
    "WRONG_VERSION_NUMBER": "the device did not answer with TLS (a plain ws:// or non-TLS port?)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "TLS handshake failure: no common cipher, or the device requires a client certificate",
    "NO_SHARED_CIPHER": "no common TLS cipher with the device",
    # our key matches our certificate (load_cert_chain checked it), so the failed
    # signature is the one on the certificate
    "TLSV1_ALERT_DECRYPT_ERROR": (
        "the device could not verify the signature on our client certificate: it names a CA "
        "the device trusts as issuer but was not signed by it (a look-alike CA?)"
    ),
    "TLSV1_ALERT_INTERNAL_ERROR": "the device reported a TLS internal error",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the peer did not send a certificate",
}


def _own_leaf(cert: str | os.PathLike[str] | None) -> Any:
    if cert is None:
        return None
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(Path(cert).read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return None


def own_certificate_note(cert: str | os.PathLike[str] | None) -> str:
    """What is wrong with *our* certificate, as far as we can tell without the device.

    A device's alert is often generic ("bad certificate"); our own file can say
    more: not valid yet (clocks), expired, or a key type embedded stacks cannot use.
    """
    leaf = _own_leaf(cert)
    if leaf is None:
        return ""
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    now = _dt.datetime.now(_dt.UTC)
    if leaf.not_valid_before_utc > now:
        return f"; our client certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check the clocks)"
    if leaf.not_valid_after_utc < now:
        return f"; our client certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    if isinstance(leaf.public_key(), (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return "; our client certificate has an EdDSA key, which mbedTLS devices cannot use (issue one with --key-type p256)"
    return ""


def _expired_alert(cert: str | os.PathLike[str] | None) -> str | None:
    """The device says 'expired' about a certificate of ours that is valid: its CRL has expired."""
    leaf = _own_leaf(cert)
    now = _dt.datetime.now(_dt.UTC)
    if leaf is None or not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
        return None
    return (
        f"the device refused our client certificate as expired, but it is valid until "
        f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: the device's CRL has probably expired "
        f"(it needs a fresh one: wsctl certs crl)"
    )


#: device alerts after which a look at our own certificate can tell more
_ABOUT_OUR_CERTIFICATE = {
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_DECRYPT_ERROR",
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
}


def ssl_failure(
    exc: BaseException, *, where: str, during: str, client_cert: str | os.PathLike[str] | None = None
) -> TLSError:
    """An ssl.SSLError that is not about the device's certificate.

    ``during``: "TLS handshake" or "WebSocket upgrade", for the message;
    ``client_cert``: our certificate file, looked at when the device's alert is about it.
    """
    reason = getattr(exc, "reason", None) or ""
    text = _PEER_ALERTS.get(reason)
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        text = _expired_alert(client_cert) or text
    about_us = reason in _ABOUT_OUR_CERTIFICATE
    if text is None:
        low = str(exc).lower()
        if "certificate required" in low:
            text = _PEER_ALERTS["TLSV13_ALERT_CERTIFICATE_REQUIRED"]
        elif isinstance(exc, ssl.SSLEOFError) or "eof" in low:
            text = "the device closed the connection (no common TLS version or cipher, or it refuses our client certificate)"
            about_us = True
        else:
            text = f"TLS error ({reason or type(exc).__name__}): {getattr(exc, 'strerror', None) or exc}"
    note = own_certificate_note(client_cert) if about_us else ""
    error = TLSError(f"{where}: {text} (during {during}){note}")
    error.wants_client_certificate = text == _PEER_ALERTS["TLSV13_ALERT_CERTIFICATE_REQUIRED"]
    return error


def handshake_reset(exc: OSError, *, where: str, client_cert: str | os.PathLike[str] | None) -> WsctlError:
    """TCP was up and the device dropped us inside the TLS handshake.

    Embedded stacks (mbedTLS, ESP-IDF) reset rather than alert when they cannot
    parse or use a certificate; that is a TLS failure, and retrying changes nothing.
    """
    if getattr(exc, "errno", None) not in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return os_failure(exc, where=where)
    if client_cert is None:
        why = "it may require a client certificate (give --cert/--key), or share no TLS version or cipher with us"
    else:
        why = "it probably cannot use our client certificate or its key type" + own_certificate_note(client_cert)
    return TLSError(
        f"{where}: the device reset the connection during the TLS handshake: {why}",
        hint="compare with the device's TLS log; EC P-256 certificates are what embedded stacks accept",
    )


def os_failure(exc: OSError, *, where: str) -> WsctlError:
    if isinstance(exc, socket.gaierror):
        return ConnectError(
            f"{where}: cannot resolve host name ({exc.strerror or exc})", hint="check the host name and DNS"
        )
    # trio.open_tcp_stream raises OSError("all attempts ... failed") from an
    # ExceptionGroup of the per-address errors
    cause = exc.__cause__
    errs: list[BaseException] = [exc]
    if isinstance(cause, BaseExceptionGroup):
        errs += list(cause.exceptions)
    elif cause is not None:
        errs.append(cause)
    codes = {getattr(e, "errno", None) for e in errs}
    inner = next((e for e in errs if getattr(e, "errno", None)), exc)
    if errno.ECONNREFUSED in codes or "refused" in str(exc).lower():
        return ConnectError(f"{where}: connection refused (nothing listening on that port?)")
    if codes & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
        return ConnectError(f"{where}: host or network unreachable")
    if errno.ECONNRESET in codes:
        return ConnectError(f"{where}: connection reset by the device")
    return ConnectError(f"{where}: cannot connect: {getattr(inner, 'strerror', None) or inner}")


def server_side_failure(exc: BaseException | None) -> str:
    """Why a client's TLS handshake failed, for the server's log (not raised)."""
    if exc is None:
        return "client closed the connection during the TLS handshake"
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _CRL_EXPIRED:
            return (
                "client refused because this server's CRL has expired (the client is told its certificate expired): "
                "publish a fresh CRL with wsctl certs crl"
            )
        return f"client certificate rejected: {exc.verify_message}"
    reason = getattr(exc, "reason", None) or ""
    known = {
        "PEER_DID_NOT_RETURN_A_CERTIFICATE": "client sent no certificate (one is required)",
        "UNSUPPORTED_PROTOCOL": "client offered only TLS older than 1.2",
        "VERSION_TOO_LOW": "client offered only TLS older than 1.2",
        "HTTP_REQUEST": "plain HTTP on the TLS port",
        "WRONG_VERSION_NUMBER": "not a TLS client (garbage or plaintext)",
        "TLSV1_ALERT_UNKNOWN_CA": "client does not trust our CA",
        "SSLV3_ALERT_BAD_CERTIFICATE": "client rejected our certificate",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "client rejected our certificate",
        "NO_SHARED_CIPHER": "no common cipher with the client",
        "UNEXPECTED_EOF_WHILE_READING": "client closed the connection during the TLS handshake",
    }
    if reason in known:
        return known[reason]
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {reason or exc}"
    return f"TLS handshake failed: {type(exc).__name__}: {exc}"
