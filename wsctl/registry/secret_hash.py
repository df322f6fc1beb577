"""Device secrets (HTTP Basic passwords of security profiles 1 and 2), stored only as scrypt hashes.

A stored hash says how it was made (``$scrypt$ln=14,r=8,p=1$salt$key``, the PHC
string format), so the cost can be raised later: old hashes keep verifying with
their own parameters.  Parameters read from the file are bounded, so an edited
registry cannot make one check take minutes or gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from wsctl.core.errors import InvalidInput

LOG_N, R, P = 14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
#: OCPP's AuthorizationKey / BasicAuthPassword: at least 16 characters
MIN_LENGTH = 16
MAX_LENGTH = 256
#: the most a hash in the file may ask for: 2**20 * 8 * 128 bytes = 1 GiB is already generous
_MAX_LOG_N, _MAX_R, _MAX_P = 20, 32, 16
#: checked when a device has no secret, so the answer takes as long as a real check
_NO_SECRET = "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def generate_secret() -> str:
    """32 URL-safe characters (192 random bits): inside OCPP's 16..40-character passwordString."""
    return secrets.token_urlsafe(24)


def check_secret_text(secret: str) -> str:
    """``secret`` if it can be a device secret; InvalidInput (without echoing it) otherwise."""
    if not isinstance(secret, str):
        raise InvalidInput("a device secret must be text")
    if len(secret) < MIN_LENGTH:
        raise InvalidInput(
            f"device secret too short: {len(secret)} characters, at least {MIN_LENGTH} "
            "(OCPP AuthorizationKey); leave it out and one is generated"
        )
    if len(secret) > MAX_LENGTH:
        raise InvalidInput(f"device secret too long: {len(secret)} characters, at most {MAX_LENGTH}")
    if not secret.isprintable() or secret.strip() != secret:
        raise InvalidInput("device secret has control characters or leading/trailing spaces")
    return secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _scrypt(secret: bytes, salt: bytes, log_n: int, r: int, p: int, length: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=128 * r * (n + p + 2) + (1 << 20))


def hash_secret(secret: str) -> str:
    """The string to store for ``secret`` (a fresh random salt each time)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(check_secret_text(secret).encode("utf-8"), salt, LOG_N, R, P, KEY_BYTES)
    return f"$scrypt$ln={LOG_N},r={R},p={P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        empty, scheme, params, salt_text, key_text = stored.split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        log_n, r, p = int(fields["ln"]), int(fields["r"]), int(fields["p"])
        salt, key = _unb64(salt_text), _unb64(key_text)
    except (ValueError, KeyError, binascii.Error):
        return None
    if empty or scheme != "scrypt" or not (1 <= log_n <= _MAX_LOG_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if not (8 <= len(salt) <= 64 and 16 <= len(key) <= 64):
        return None
    return log_n, r, p, salt, key


def is_stored_hash(stored: str) -> bool:
    """Whether ``stored`` is a hash this wsctl reads, within its bounds (one
    from another hub of the federation is checked before it is kept)."""
    return _parse(stored) is not None


def verify_secret(password: str | bytes, stored: str | None) -> bool:
    """Whether ``password`` is the secret ``stored`` was made from; constant time in the password.

    Without a stored secret (or with one this wsctl cannot read) the check still
    runs on a dummy, and is False: timing does not tell which ids have secrets.
    """
    parsed = _parse(stored) if stored else None
    usable = parsed is not None
    if parsed is None:
        parsed = _parse(_NO_SECRET)
        assert parsed is not None
    log_n, r, p, salt, key = parsed
    data = password.encode("utf-8", "surrogatepass") if isinstance(password, str) else bytes(password)
    candidate = _scrypt(data, salt, log_n, r, p, len(key))
    return hmac.compare_digest(candidate, key) and usable
