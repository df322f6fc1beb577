"""Profile discovery: ./profiles over the user's config dir over the shipped ones."""

from __future__ import annotations

import pytest
from profile_helpers import MINIMAL, SHIPPED

from wsctl.core.errors import InvalidInput
from wsctl.files import profiles as discovery
from wsctl.files.profiles import find_profile, list_profiles, load_profile


def _write(directory, name, *, id=None, title="t", text=None):
    path = directory / f"{name}.toml"
    path.write_text(text if text is not None else MINIMAL.format(id=id or name, title=title))
    return path


def test_project_dir_wins_over_user_dir_over_shipped(sandbox):
    cwd, environ = sandbox
    user = discovery.user_dir(environ)
    _write(user, "conveyor", title="from config dir")
    assert load_profile("conveyor", cwd=cwd, environ=environ).title == "from config dir"
    _write(cwd / "profiles", "conveyor", title="from project")
    assert load_profile("conveyor", cwd=cwd, environ=environ).title == "from project"
    origins = {
        loc.origin for loc in list_profiles(cwd=cwd, environ=environ, include_shadowed=True) if loc.name == "conveyor"
    }
    assert origins == {"project", "user", "shipped"}
    effective = [loc for loc in list_profiles(cwd=cwd, environ=environ) if loc.name == "conveyor"]
    assert [loc.origin for loc in effective] == ["project"]


def test_list_shows_shipped_ones_in_an_empty_sandbox(sandbox):
    cwd, environ = sandbox
    listed = list_profiles(cwd=cwd, environ=environ)
    assert [(loc.name, loc.origin) for loc in listed] == [(n, "shipped") for n in SHIPPED]
    name, path, origin = listed[0]  # plain tuples for callers that unpack
    assert path.endswith("conveyor.toml")


def test_user_dir_follows_xdg_and_defaults_to_home(tmp_path):
    assert discovery.user_dir({"XDG_CONFIG_HOME": "/cfg", "HOME": "/h"}).as_posix() == "/cfg/wsctl/profiles"
    assert discovery.user_dir({"HOME": "/h"}).as_posix() == "/h/.config/wsctl/profiles"
    # the XDG spec says a relative XDG_CONFIG_HOME is to be ignored
    assert discovery.user_dir({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}).as_posix() == "/h/.config/wsctl/profiles"


def test_a_path_works_relative_and_absolute(sandbox, tmp_path):
    cwd, environ = sandbox
    path = _write(tmp_path, "bench", id="bench-7")
    assert load_profile(str(path), cwd=cwd, environ=environ).id == "bench-7"
    (cwd / "sub").mkdir()
    _write(cwd / "sub", "rel", id="relative-one")
    assert load_profile("sub/rel.toml", cwd=cwd, environ=environ).id == "relative-one"
    # a bare file name ending in .toml in the working directory is a path too
    _write(cwd, "here", id="here-one")
    loc = find_profile("here.toml", cwd=cwd, environ=environ)
    assert loc.origin == "file" and load_profile("here.toml", cwd=cwd, environ=environ).id == "here-one"


def test_name_with_toml_suffix_falls_back_to_lookup(sandbox):
    cwd, environ = sandbox
    assert load_profile("psu.toml", cwd=cwd, environ=environ).id == "psu"


def test_profile_id_is_accepted_when_it_differs_from_the_file_name(sandbox):
    cwd, environ = sandbox
    _write(cwd / "profiles", "wallbox", id="acme-wallbox-ocpp16")
    assert find_profile("acme-wallbox-ocpp16", cwd=cwd, environ=environ).name == "wallbox"


def test_unknown_name_lists_the_known_ones(sandbox):
    cwd, environ = sandbox
    _write(cwd / "profiles", "line-3")
    with pytest.raises(InvalidInput) as exc:
        load_profile("conveyer", cwd=cwd, environ=environ)
    message = str(exc.value)
    assert message.startswith(
        "no profile named 'conveyer' (known: conveyor, line-3, ocpp16, ocpp16-charger, ocpp201, ocpp201-charger, psu, shelly-gen2;"
    )
    assert message.endswith("did you mean 'conveyor'?")
    assert str(cwd / "profiles") in message and "shipped with wsctl" in message
    assert exc.value.exit_code == 8


def test_missing_path_and_broken_file_are_invalid_input(sandbox, tmp_path):
    cwd, environ = sandbox
    with pytest.raises(InvalidInput, match=r"nope\.toml: no such profile file"):
        load_profile(str(tmp_path / "nope.toml"), cwd=cwd, environ=environ)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'format = "wsctl-profile/1"\n\xff\xfe')
    with pytest.raises(InvalidInput, match=r"bad\.toml: not UTF-8 text"):
        load_profile(str(bad), cwd=cwd, environ=environ)
    broken = _write(
        tmp_path,
        "broken",
        text='format = "wsctl-profile/1"\n[profile]\nid = "x"\n[framing]\npreset = "jsonrpc2"\n[commands.a]\nbogus = 1\n',
    )
    with pytest.raises(InvalidInput, match=r"broken\.toml: commands\.a\.bogus: unknown field"):
        load_profile(str(broken), cwd=cwd, environ=environ)


def test_broken_profile_in_search_path_does_not_hide_others(sandbox):
    cwd, environ = sandbox
    _write(cwd / "profiles", "junk", text="this is = = not toml")
    assert load_profile("conveyor", cwd=cwd, environ=environ).id == "conveyor"
    with pytest.raises(InvalidInput, match=r"junk\.toml: not valid TOML"):
        load_profile("junk", cwd=cwd, environ=environ)


def test_installed_profiles_by_plain_name_or_id_only(sandbox, tmp_path):
    cwd, environ = sandbox
    _write(cwd / "profiles", "line3", id="line3-gateway")
    assert discovery.load_installed("line3", cwd=cwd, environ=environ).id == "line3-gateway"
    assert discovery.load_installed("line3-gateway", cwd=cwd, environ=environ).id == "line3-gateway"  # by id
    assert discovery.load_installed("conveyor", cwd=cwd, environ=environ).id == "conveyor"  # shipped
    outside = _write(tmp_path, "outside")
    for name in (str(outside), "profiles/line3", "../work/profiles/line3.toml", "/dev/zero", "", ".hidden", "a\nb"):
        with pytest.raises(InvalidInput, match="is not a plain profile name"):
            discovery.load_installed(name, cwd=cwd, environ=environ)
    # the same strings are still paths when the user gives them
    assert load_profile(str(outside), cwd=cwd, environ=environ).id == "outside"


def test_a_profile_file_is_read_only_if_regular_and_small(sandbox, tmp_path, monkeypatch):
    import os

    cwd, environ = sandbox
    with pytest.raises(InvalidInput, match="/dev/zero: is a character device, not a profile file"):
        load_profile("/dev/zero", cwd=cwd, environ=environ)
    os.mkfifo(tmp_path / "p.toml")
    with pytest.raises(InvalidInput, match=r"p\.toml: is a FIFO, not a profile file"):
        load_profile(str(tmp_path / "p.toml"), cwd=cwd, environ=environ)
    with pytest.raises(InvalidInput, match="is a directory, not a profile file"):
        load_profile(str(tmp_path) + "/", cwd=cwd, environ=environ)
    big = _write(tmp_path, "big")
    monkeypatch.setattr(discovery, "MAX_PROFILE_BYTES", big.stat().st_size - 1)
    with pytest.raises(InvalidInput, match=r"big\.toml: larger than \d+ bytes, too large for a profile file"):
        load_profile(str(big), cwd=cwd, environ=environ)


def test_a_profile_is_parsed_once_until_its_file_changes(sandbox, monkeypatch):
    cwd, environ = sandbox
    path = _write(cwd / "profiles", "line", title="first")
    parsed = []
    from wsctl.core.profile import loader

    real = loader.parse_profile
    monkeypatch.setattr(loader, "parse_profile", lambda text, **kw: parsed.append(1) or real(text, **kw))
    one = load_profile("line", cwd=cwd, environ=environ)
    assert load_profile(str(path), cwd=cwd, environ=environ) is one  # the same file, by path
    assert len(parsed) == 1
    path.write_text(MINIMAL.format(id="line", title="second"))  # edited: read and checked again
    assert load_profile("line", cwd=cwd, environ=environ).title == "second" and len(parsed) == 2
    path.write_text(MINIMAL.format(id="line", title="second") + "\n[bogus]\n")
    with pytest.raises(InvalidInput):  # a broken edit is reported, not hidden by the earlier parse
        load_profile("line", cwd=cwd, environ=environ)


@pytest.mark.parametrize("project", ["none", "file", "fifo", "dangling link", "hidden"])
@pytest.mark.parametrize("user", ["none", "file"])
@pytest.mark.parametrize("project_is_shipped", [False, True])
def test_a_name_is_found_where_the_listing_would_find_it_without_listing(
    sandbox, tmp_path, monkeypatch, project, user, project_is_shipped
):
    import os

    cwd, environ = sandbox
    if project_is_shipped:  # a source checkout: ./profiles is the shipped directory
        (cwd / "profiles").rmdir()
        (cwd / "profiles").symlink_to(str(discovery.shipped_dir()))
    else:
        where = cwd / "profiles" / ("conveyor.toml" if project != "hidden" else ".conveyor.toml")
        if project in ("file", "hidden"):
            where.write_text(MINIMAL.format(id="conveyor", title="project"))
        elif project == "fifo":
            os.mkfifo(where)
        elif project == "dangling link":
            where.symlink_to(tmp_path / "nowhere.toml")
    if user == "file":
        _write(discovery.user_dir(environ), "conveyor", title="user")
    expected = next(loc for loc in list_profiles(cwd=cwd, environ=environ) if loc.name == "conveyor")

    def listed(*a, **kw):
        raise AssertionError("a profile found by its file name needs no listing")

    monkeypatch.setattr(discovery, "list_profiles", listed)
    assert find_profile("conveyor", cwd=cwd, environ=environ) == expected


def test_a_bare_suffix_is_not_a_profile_name_even_with_a_dot_file_of_that_name(sandbox):
    cwd, environ = sandbox
    (cwd / "profiles" / ".toml").write_text(MINIMAL.format(id="dot", title="t"))
    with pytest.raises(InvalidInput):
        find_profile(".toml", cwd=cwd, environ=environ)
