"""One rule for wsctl's per-user directory (XDG Base Directory)."""

from __future__ import annotations

from pathlib import PurePath

from wsctl.core.xdg import config_dir


def test_absolute_xdg_config_home_wins():
    assert config_dir({"XDG_CONFIG_HOME": "/cfg", "HOME": "/home/u"}) == PurePath("/cfg/wsctl")


def test_a_relative_xdg_config_home_is_ignored_as_the_specification_says():
    assert config_dir({"XDG_CONFIG_HOME": "rel/cfg", "HOME": "/home/u"}) == PurePath("/home/u/.config/wsctl")


def test_home_and_windows_appdata():
    assert config_dir({"HOME": "/home/u"}) == PurePath("/home/u/.config/wsctl")
    assert config_dir({"APPDATA": "C:/Users/u/AppData/Roaming"}, windows=True).parts[-1] == "wsctl"
