"""Device secrets (security profiles 1 and 2): generated long enough for OCPP,
stored only as a self-describing scrypt hash, checked in constant time, and
never found in a record, its JSON, a log or the file."""

from __future__ import annotations

import json
import logging

import pytest
from registry_helpers import open_registry

from wsctl.core.errors import InvalidInput
from wsctl.registry import secret_hash
from wsctl.registry.secret_hash import hash_secret, verify_secret


def _raw_files(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("hub.db"))


@pytest.mark.parametrize("security_profile", [1, 2])
def test_a_generated_secret_is_returned_once_and_checks(tmp_path, security_profile):
    with open_registry(tmp_path) as reg:
        secret = reg.add_device("CP-17", profile="ocpp16", security_profile=security_profile)
        assert isinstance(secret, str) and len(secret) >= 16
        assert reg.check_secret("CP-17", secret)
        assert not reg.check_secret("CP-17", secret[:-1] + ("A" if secret[-1] != "A" else "B"))
        assert not reg.check_secret("CP-17", "")
        assert reg.device("CP-17").has_secret


def test_secrets_differ_and_rotation_replaces_the_old_one(tmp_path):
    with open_registry(tmp_path) as reg:
        first = reg.add_device("a", profile="p", security_profile=2)
        other = reg.add_device("b", profile="p", security_profile=2)
        assert first != other
        rotated = reg.set_secret("a")
        assert rotated != first and reg.check_secret("a", rotated) and not reg.check_secret("a", first)
        assert reg.set_secret("a", "a given secret of 24 ch") == "a given secret of 24 ch"
        assert reg.check_secret("a", "a given secret of 24 ch")
        assert not reg.check_secret("b", "a given secret of 24 ch")


def test_a_given_secret_is_stored_and_not_returned(tmp_path):
    with open_registry(tmp_path) as reg:
        assert reg.add_device("a", profile="p", security_profile=2, secret="0123456789abcdefXYZ") is None
        assert reg.check_secret("a", "0123456789abcdefXYZ")


@pytest.mark.parametrize(
    "secret, says",
    [
        ("Zq7vW", "too short: 5 characters, at least 16"),
        ("x" * 15, "too short: 15 characters"),
        ("x" * 257, "too long"),
        ("0123456789abcdef\n", "control characters"),
        (" 0123456789abcdef", "leading/trailing spaces"),
    ],
)
def test_unfit_secrets_are_refused_without_echoing_them(tmp_path, secret, says):
    with open_registry(tmp_path) as reg:
        reg.add_device("a", profile="p", security_profile=2)
        with pytest.raises(InvalidInput, match=says) as info:
            reg.set_secret("a", secret)
        assert secret.strip() not in str(info.value)
        with pytest.raises(InvalidInput, match=says):
            reg.add_device("b", profile="p", security_profile=2, secret=secret)


def test_a_profile_3_device_has_no_secret_to_rotate_or_check(tmp_path):
    with open_registry(tmp_path) as reg:
        reg.add_device("a", profile="p", security_profile=3)
        with pytest.raises(InvalidInput, match="uses security profile 3"):
            reg.set_secret("a")
        assert not reg.check_secret("a", "anything at all, 16+")
        assert not reg.check_secret("nobody", "anything at all, 16+")


def test_the_stored_form_is_scrypt_with_its_parameters_and_a_random_salt():
    stored = hash_secret("0123456789abcdefXYZ")
    again = hash_secret("0123456789abcdefXYZ")
    assert stored.startswith("$scrypt$ln=14,r=8,p=1$") and stored != again
    _, _, _, salt, key = stored.split("$")
    assert len(secret_hash._unb64(salt)) == 16 and len(secret_hash._unb64(key)) == 32
    assert verify_secret("0123456789abcdefXYZ", stored) and verify_secret("0123456789abcdefXYZ", again)


def test_other_parameters_in_the_file_still_verify(tmp_path):
    # a later wsctl may raise the cost: hashes made with other parameters keep working
    salt = b"0123456789abcdef"
    key = secret_hash._scrypt(b"0123456789abcdefXYZ", salt, 12, 4, 2, 32)
    stored = f"$scrypt$ln=12,r=4,p=2${secret_hash._b64(salt)}${secret_hash._b64(key)}"
    assert verify_secret("0123456789abcdefXYZ", stored)
    assert not verify_secret("0123456789abcdefXYZ!", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain text",
        "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,  # would need terabytes
        "$scrypt$ln=14,r=8000,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
        "$bcrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
        "$scrypt$ln=14,r=8,p=1$!!!$" + "A" * 43,
        "$scrypt$ln=x,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43,
    ],
)
def test_a_hostile_stored_hash_is_false_quickly_not_an_error(stored):
    assert verify_secret("0123456789abcdefXYZ", stored) is False


def test_the_secret_is_in_no_record_json_log_or_file(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with open_registry(tmp_path) as reg:
        secret = reg.add_device("CP-17", profile="ocpp16", security_profile=2, groups=["g"])
        given = "given-secret-0123456789"
        reg.add_device("CP-18", profile="ocpp16", security_profile=2, secret=given)
        reg.check_secret("CP-17", secret)
        reg.check_secret("CP-17", "wrong-password-0123456789")
        shown = [repr(reg.device("CP-17")), json.dumps(reg.device("CP-17").as_dict()), repr(reg.devices())]
        shown += [json.dumps([d.as_dict() for d in reg.devices()])]
        with reg._db.read() as conn:
            stored = [tuple(row) for row in conn.execute("SELECT secret_hash FROM devices")]
    for text in [*shown, caplog.text, repr(stored)]:
        assert secret not in text and given not in text
    for text in shown:
        assert "scrypt" not in text and "secret_hash" not in text
    raw = _raw_files(tmp_path)
    assert secret.encode() not in raw and given.encode() not in raw
