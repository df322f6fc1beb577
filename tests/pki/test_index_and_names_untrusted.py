"""What a store name may be, and an index.json that was edited, restored or
damaged: refused as corrupted, never followed out of the store, never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pki_helpers import CA_PASS

from wsctl.core.errors import InvalidInput, StoreError
from wsctl.pki.index import parse_index
from wsctl.pki.names import check_dns, check_name, check_role


@pytest.mark.parametrize(
    "check, text",
    [
        (check_name, "plc-1\n"),
        (lambda t: check_role(t, allow_custom=True), "engineer\n"),
        (check_role, "engineer\n"),
        (check_dns, "a\n.example.com"),
        (check_dns, "plc-9\n.plant.local"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_name(check, text):
    with pytest.raises(InvalidInput):
        check(text)


def test_a_name_with_a_newline_gets_no_certificate(store):
    with pytest.raises(InvalidInput):
        store.issue_device("d1\n", ips=["10.0.0.4"], password=CA_PASS, key_password=None)
    with pytest.raises(InvalidInput):
        store.issue_device("d2", dns=["d2\n.plant.local"], password=CA_PASS, key_password=None)
    assert store.entries() == []


def test_a_ca_name_with_control_characters_is_refused(tmp_path):
    from wsctl.pki.store import Store

    with pytest.raises(InvalidInput, match="control characters"):
        Store(tmp_path / "s").init(name="Plant\nCA", password=CA_PASS)


def _edited(store, change) -> None:
    doc = json.loads(store.index_path.read_text())
    change(doc["entries"])
    store.index_path.write_text(json.dumps(doc))


@pytest.fixture
def two(store):
    store.issue_device("d1", dns=["d1.plant.local"], ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    store.issue_operator("op1", role="engineer", password=CA_PASS, key_password=None)
    return store


def _set(i: int, key: str, value):
    def change(entries):
        entries[i][key] = value

    return change


@pytest.mark.parametrize(
    "change, said",
    [
        (_set(0, "name", "../../escaped"), "not a store name"),
        (_set(0, "name", "d1\n"), "not a store name"),
        (_set(0, "kind", "../x"), "not a store name"),
        (_set(0, "not_after", "2030-01-01T00:00:00"), "no time zone"),
        (_set(0, "dns", "abc"), "list of strings"),
        (_set(0, "ips", [1]), "list of strings"),
        (lambda e: e[1].__setitem__("serial", e[0]["serial"]), "appears twice"),
    ],
)
def test_an_edited_index_is_refused_as_corrupted(two, change, said):
    _edited(two, change)
    with pytest.raises(StoreError, match="corrupted") as caught:
        two.entries()
    assert said in caught.value.message
    with pytest.raises(StoreError):  # nothing is renewed, written or followed out of the store
        two.renew("d1", password=CA_PASS)
    assert not (two.path.parent / "escaped").exists()


def test_index_json_as_a_directory_is_one_clear_error(store):
    store.index_path.unlink()
    store.index_path.mkdir()
    with pytest.raises(StoreError) as caught:
        store.entries()
    assert "index.json" in caught.value.message and "Errno" not in caught.value.message


def test_a_path_with_dot_dot_is_outside_the_store(store):
    from wsctl.pki.fsutil import refuse_symlinks

    with pytest.raises(InvalidInput, match="outside the store"):
        refuse_symlinks(store.path, store.path / "devices" / ".." / ".." / "x")


@pytest.fixture(scope="module")
def valid_index_bytes(tmp_path_factory):
    from wsctl.pki.store import Store

    s = Store(tmp_path_factory.mktemp("idx") / "certs")
    s.init(name="Fuzz", password=CA_PASS)
    s.issue_device("d1", dns=["d1.plant.local"], ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    return s.index_path.read_bytes(), s.path


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["serial", "name", "kind", "role", "status", "not_after", "not_before", "dns", "ips",
                            "issued_at", "revoked_at", "superseded_by", "has_key"]), value=_JSON)  # fmt: skip
def test_any_value_in_any_field_is_parsed_or_refused_as_corrupted(valid_index_bytes, key, value):
    data, root = valid_index_bytes
    doc = json.loads(data)
    doc["entries"][0][key] = value
    try:
        index = parse_index(json.dumps(doc).encode(), root / "index.json", lambda kind, name: (kind, name))
    except StoreError:
        return
    entry = index.entries[0]
    assert check_name(entry.name) == entry.name
    assert all(isinstance(d, str) for d in entry.dns) and all(isinstance(i, str) for i in entry.ips)
    assert entry.not_after.tzinfo is not None
    assert entry.role is None or isinstance(entry.role, str)
    assert entry.effective_status() in ("valid", "expired", "revoked", "superseded")
