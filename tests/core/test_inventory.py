from pathlib import PurePath

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.inventory import parse_inventory, with_overrides

GOOD = """
[defaults]
certs = "pki"
operator = "alice"

[devices.plc-17]
url = "wss://10.0.0.17:8443/"
profile = "conveyor"
pin = "sha256:abcd"

[devices.plc-18]
url = "wss://plc-18.plant:8443/"
operator = "bob"
ca = "/etc/plant/root.crt"

[groups]
line-1 = ["plc-17", "plc-18", "plc-17"]
"""


def test_device_inherits_defaults_and_paths_are_relative_to_the_file():
    inv = parse_inventory(GOOD, source="inv.toml", base=PurePath("/srv/plant"))
    plc17 = inv.resolve("plc-17")[0]
    assert plc17.url == "wss://10.0.0.17:8443/"
    assert plc17.certs == "/srv/plant/pki" and plc17.operator == "alice"
    assert plc17.pin == "sha256:abcd"
    plc18 = inv.resolve("plc-18")[0]
    assert plc18.operator == "bob" and plc18.ca == "/etc/plant/root.crt"


def test_group_expands_in_order_without_duplicates():
    inv = parse_inventory(GOOD)
    assert [d.name for d in inv.resolve("line-1")] == ["plc-17", "plc-18"]
    assert [d.name for d in inv.resolve_all(["plc-18", "line-1"])] == ["plc-18", "plc-17"]


def test_url_target_needs_no_inventory():
    inv = parse_inventory("")
    assert inv.resolve("wss://127.0.0.1:9/")[0].url == "wss://127.0.0.1:9/"


def test_unknown_target_names_known_ones():
    inv = parse_inventory(GOOD, source="inv.toml")
    with pytest.raises(InvalidInput) as err:
        inv.resolve("plc-99")
    assert "plc-99" in str(err.value) and "plc-17" in err.value.hint


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[devices.a]\nurl = 5", "devices.a.url: expected str"),
        ("[devices.a]\nurl='wss://x/'\ncolour='red'", "unknown key 'colour'"),
        ("[devices.a]\nprofile='p'", "missing url"),
        ("[devices.a]\nurl='http://x/'", "expected wss://"),
        ("[devices.b]\nurl='wss://127.0.0.1:99999/'", "devices.b.url: not a valid URL"),
        ("[devices.b]\nurl='wss://[::1:x/'", "devices.b.url: not a valid URL"),
        ("[devices.b]\nurl='wss:///path'", "devices.b.url: no host"),
        ("[groups]\ng=['nope']", "unknown device(s) nope"),
        ("[wat]\nx=1", "unknown section"),
        ("[devices", "not valid TOML"),
        ("[devices.a]\nurl='wss://x/'\nsubprotocols=[1]", "list of strings"),
    ],
)
def test_bad_inventory_names_the_field(text, fragment):
    with pytest.raises(InvalidInput) as err:
        parse_inventory(text, source="inv.toml")
    assert fragment in str(err.value) and "inv.toml" in str(err.value)


def test_command_line_overrides_win_but_none_does_not():
    entry = parse_inventory(GOOD).resolve("plc-17")[0]
    out = with_overrides(entry, pin=None, profile="other", subprotocols=())
    assert out.profile == "other" and out.pin == "sha256:abcd"


def test_a_bad_url_is_shown_without_its_password():
    with pytest.raises(InvalidInput) as err:
        parse_inventory("[devices.a]\nurl='wss://op:s3cret@h:99999/'", source="inv.toml")
    assert "s3cret" not in str(err.value)
    with pytest.raises(InvalidInput) as err:
        parse_inventory("[devices.a]\nurl='https://op:s3cret@h/'", source="inv.toml")
    assert "s3cret" not in str(err.value)
