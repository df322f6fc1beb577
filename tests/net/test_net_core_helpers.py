"""The pure helpers under the network layer: known-devices format and backoff."""

from __future__ import annotations

import random

import pytest

from wsctl.core import known_devices as kd
from wsctl.core.backoff import Backoff
from wsctl.core.errors import InvalidInput, TLSError

FP1 = "sha256:" + "a" * 64
FP2 = "sha256:" + "b" * 64


def test_fingerprint_forms():
    colons = "SHA256:" + ":".join(["AA"] * 32)
    assert kd.normalize_fingerprint(colons) == FP1
    assert kd.normalize_fingerprint("a" * 64) == FP1
    with pytest.raises(InvalidInput, match="not a SHA-256 fingerprint"):
        kd.normalize_fingerprint("sha256:abc")


def test_set_over_duplicate_lines_leaves_one_that_takes_effect():
    FP3 = "sha256:" + "c" * 64
    known = kd.parse(f"plc-1:443 {FP1}\n# kept\nplc-2:443 {FP1}\nplc-1:443 {FP2}\n".encode())
    assert known.get("plc-1:443") == FP2  # the last line counts
    known.set("plc-1:443", FP3)
    assert kd.serialize(known) == f"plc-1:443 {FP3}\n# kept\nplc-2:443 {FP1}\n"
    assert kd.parse(kd.serialize(known)).get("plc-1:443") == FP3


def test_a_file_that_is_not_utf8_is_invalid_input_naming_the_byte():
    with pytest.raises(InvalidInput, match=r"^kd: not UTF-8 text \(invalid start byte at byte 13\)$"):
        kd.parse(b"plc-1:443 sha\xff", source="kd")


def test_parse_keeps_comments_and_rewrites_one_line():
    text = f"# plant north\n\nplc-1:443 {FP1}  # cabinet 3\n[fd00::1]:8443 {FP2}\n"
    known = kd.parse(text)
    assert known.get("plc-1:443") == FP1 and known.get("[fd00::1]:8443") == FP2
    assert kd.serialize(known) == text
    known.set("plc-1:443", FP2)
    known.set("plc-2:443", FP1)
    assert kd.serialize(known) == f"# plant north\n\nplc-1:443 {FP2}\n[fd00::1]:8443 {FP2}\nplc-2:443 {FP1}\n"


@pytest.mark.parametrize("bad", ["plc-1 " + FP1, "plc-1:443", "plc-1:443 sha256:zz"])
def test_parse_errors_name_the_line(bad):
    with pytest.raises(InvalidInput, match=r"known:2:"):
        kd.parse("# ok\n" + bad + "\n", source="known")


def test_decide_first_use_known_changed_trust_new():
    known = kd.parse(f"plc-1:443 {FP1}\n")
    assert kd.decide(known, "plc-2:443", FP1).action == "record"
    assert kd.decide(known, "plc-1:443", FP1).action == "known"
    with pytest.raises(TLSError) as info:
        kd.decide(known, "plc-1:443", FP2)
    assert FP1 in str(info.value) and FP2 in str(info.value) and "--trust-new" in info.value.hint
    d = kd.decide(known, "plc-1:443", FP2, trust_new=True)
    assert (d.action, d.previous, d.must_write) == ("replace", FP1, True)


def test_device_key_and_default_path():
    assert kd.device_key("PLC-1.Example", 443) == "plc-1.example:443"
    assert kd.device_key("fd00::1", 8443) == "[fd00::1]:8443"
    assert str(kd.default_path({"WSCTL_KNOWN_DEVICES": "/x/kd"})) == "/x/kd"
    assert str(kd.default_path({"XDG_CONFIG_HOME": "/cfg"})) == "/cfg/wsctl/known_devices"
    assert str(kd.default_path({"HOME": "/home/op"})) == "/home/op/.config/wsctl/known_devices"


def test_backoff_caps_and_jitter():
    b = Backoff(initial=0.5, maximum=8, multiplier=2, jitter="none", max_attempts=7)
    assert list(b.delays()) == [0.5, 1, 2, 4, 8, 8, 8]
    assert b.cap(10_000) == 8  # no float overflow
    rng = random.Random(1)
    full = Backoff(initial=1, maximum=4, jitter="full")
    draws = [full.delay(5, rng) for _ in range(500)]
    assert all(0 <= d <= 4 for d in draws) and max(draws) > 3.5 and min(draws) < 0.5
    equal = Backoff(initial=1, maximum=4, jitter="equal")
    assert all(2 <= equal.delay(5, rng) <= 4 for _ in range(500))
    with pytest.raises(InvalidInput):
        Backoff(initial=0)
    with pytest.raises(InvalidInput):
        Backoff(jitter="sometimes")


def test_a_target_never_shows_its_password():
    from wsctl.net.client_open import parse_target

    target = parse_target("wss://CP-1:s3cret-pw@charger.example:8443/ocpp/CP-1")
    assert (target.username, target.password, target.port) == ("CP-1", "s3cret-pw", 8443)
    assert "s3cret-pw" not in repr(target) and "s3cret-pw" not in str(target) and "s3cret-pw" not in target.url
    assert "username='CP-1'" in repr(target)
