"""Where profiles are found, and loading one by name or path.

A profile NAME is the file name without `.toml`.  It is looked up, first match
wins, in:

  1. project  ./profiles                      (relative to the working directory)
  2. user     $XDG_CONFIG_HOME/wsctl/profiles (default ~/.config/wsctl/profiles)
  3. shipped  the profiles inside the wsctl package (importlib.resources, so an
              installed wheel finds them; top-level profiles/ in the source tree
              is a symlink to wsctl/profiles)

so a plant can override a shipped profile by dropping a file of the same name
into ./profiles.  A name that matches no file is also tried against the `id`
inside each profile.  Anything that looks like a path (contains a slash, or ends
in `.toml` and exists) is read directly — but only when the user gave it:
a name that came from a file (a recording's header) goes through
`load_installed`, which takes plain names only and never opens a path.

Every profile is read as a regular file of at most `MAX_PROFILE_BYTES`
(a FIFO or /dev/zero named as a profile is refused, not waited on or read
until memory runs out).

`summary_at` reads only what `wsctl profile list` prints (id, title, version,
the number of commands) without checking the profile or building its model
(which costs more than reading every file); a profile is checked in full where
it is used, and by `wsctl profile validate`.

Only file reads here (no sockets, no trio, no click): `cwd` and `environ` are
parameters so callers and tests decide what "here" and "my config" mean.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.format import PLAIN_NAME
from wsctl.core.xdg import config_dir
from wsctl.files.regular import decode_utf8, read_regular

if TYPE_CHECKING:
    from wsctl.core.profile.model import Profile

SUFFIX = ".toml"
#: profiles are a few kilobytes; a file past this is not one
MAX_PROFILE_BYTES = 4 * 2**20
# where relative profile paths and ./profiles are looked up; None: the working directory
Cwd = str | os.PathLike[str] | None
# the environment XDG_CONFIG_HOME and HOME come from; None: os.environ
Environ = Mapping[str, str] | None


class ProfileLocation(NamedTuple):
    name: str
    #: a filesystem path, or for shipped profiles inside a zip the resource's str()
    path: str
    #: project | user | shipped | file (given as a path)
    origin: str


def user_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(os.path.expanduser(config_dir(environ, windows=os.name == "nt"))) / "profiles"


def project_dir(cwd: Cwd = None) -> Path:
    return Path(cwd if cwd is not None else os.getcwd()) / "profiles"


@functools.cache
def shipped_dir() -> Traversable:
    """The package's profiles directory as an importlib Traversable (where the
    package is does not change while it runs)."""
    return resources.files("wsctl").joinpath("profiles")


def search_path(*, cwd: Cwd = None, environ: Environ = None) -> list[tuple[str, Path | Traversable]]:
    """(origin, directory) in lookup order; directories may not exist."""
    return [("project", project_dir(cwd)), ("user", user_dir(environ)), ("shipped", shipped_dir())]


def _entries(directory: Path | Traversable) -> list[tuple[str, object]]:
    try:
        if not directory.is_dir():
            return []
        children = list(directory.iterdir())
    except OSError:
        return []
    found = [(c.name[: -len(SUFFIX)], c) for c in children if c.name.endswith(SUFFIX) and not c.name.startswith(".")]
    return sorted(found, key=lambda item: item[0])


def list_profiles(*, cwd: Cwd = None, environ: Environ = None, include_shadowed: bool = False) -> list[ProfileLocation]:
    """Every profile found, in lookup order (project, user, shipped), sorted by
    name within each origin.  A name found earlier shadows later ones; those are
    left out unless `include_shadowed`."""
    out: list[ProfileLocation] = []
    seen: set[str] = set()
    dirs = search_path(cwd=cwd, environ=environ)
    shipped_real = os.path.realpath(str(dirs[-1][1]))
    for origin, directory in dirs:
        # in a source checkout ./profiles IS the shipped directory (a symlink): call
        # those files shipped rather than listing them twice or as a project's own
        if origin != "shipped" and os.path.realpath(str(directory)) == shipped_real:
            continue
        for name, entry in _entries(directory):
            if name in seen and not include_shadowed:
                continue
            seen.add(name)
            out.append(ProfileLocation(name, str(entry), origin))
    return out


def _looks_like_path(text: str, cwd: Cwd) -> bool:
    if "/" in text or os.sep in text or (os.altsep and os.altsep in text):
        return True
    return text.endswith(SUFFIX) and (Path(cwd if cwd is not None else os.getcwd()) / text).is_file()


def _read(location: ProfileLocation, entry: Traversable | None = None) -> str:
    if entry is None:
        return decode_utf8(read_regular(location.path, limit=MAX_PROFILE_BYTES, what="profile file"), location.path)
    try:
        # shipped with wsctl (possibly inside a zip): trusted, and not a path anyone chose
        return entry.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{location.path}: cannot read: {exc.strerror or exc}") from None


def find_profile(name_or_path: str, *, cwd: Cwd = None, environ: Environ = None) -> ProfileLocation:
    """Where NAME_OR_PATH is, without parsing it (except for the id fallback)."""
    if not name_or_path:
        raise InvalidInput("profile: empty name")
    if _looks_like_path(name_or_path, cwd):
        path = Path(name_or_path).expanduser()
        if not path.is_absolute() and cwd is not None:
            path = Path(cwd) / path
        name = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name
        return ProfileLocation(name, str(path), "file")
    try:
        return _find_installed(name_or_path, cwd=cwd, environ=environ)
    except InvalidInput:
        if name_or_path.endswith(SUFFIX):
            # meant as a file (it has the suffix): say that the file is missing
            raise InvalidInput(
                f"no such profile file: {name_or_path} (and no installed profile named {name_or_path[: -len(SUFFIX)]!r})",
                hint="check the path, or see `wsctl profile list`",
            ) from None
        raise


def _find_by_file_name(name: str, *, cwd: Cwd, environ: Environ) -> ProfileLocation | None:
    """Where `list_profiles` would find NAME.toml first, without listing any directory.

    A script that opens device after device with ``profile="name"`` looked the
    name up through every directory's listing each time (docs/performance.md).
    One entry per directory, in lookup order, decides the same way: any entry of
    that name counts (a FIFO or a broken link too, refused when it is read, as
    before), and a project directory that is the shipped one is skipped."""
    if not name or name.startswith("."):
        return None  # `.toml` alone, a dot file: never listed, so never found by name
    file_name = name + SUFFIX
    dirs = search_path(cwd=cwd, environ=environ)
    shipped = dirs[-1][1]
    for origin, directory in dirs:
        entry = directory.joinpath(file_name)
        if origin == "shipped":
            if entry.is_file():
                return ProfileLocation(name, str(entry), origin)
            continue
        if not os.path.lexists(str(entry)) or not os.path.isdir(str(directory)):
            continue
        if os.path.realpath(str(directory)) == os.path.realpath(str(shipped)):
            continue
        return ProfileLocation(name, str(entry), origin)
    return None


def _find_installed(name: str, *, cwd: Cwd = None, environ: Environ = None) -> ProfileLocation:
    name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    found = _find_by_file_name(name, cwd=cwd, environ=environ)
    if found is not None:
        return found
    known = list_profiles(cwd=cwd, environ=environ)
    for location in known:
        if location.name == name:
            return location
    # a profile's id may differ from its file name (acme-wallbox.toml, id "acme-wallbox-ocpp16")
    for location in known:
        try:
            if load_at(location).id == name:
                return location
        except InvalidInput:
            continue
    names = ", ".join(sorted({loc.name for loc in known})) or "none"
    dirs = ", ".join(
        str(d) if origin != "shipped" else "shipped with wsctl" for origin, d in search_path(cwd=cwd, environ=environ)
    )
    from wsctl.core.suggest import did_you_mean

    raise InvalidInput(
        f"no profile named {name!r} (known: {names}; searched {dirs}){did_you_mean(name, [loc.name for loc in known])}",
        hint="give a path to a .toml file, or see `wsctl profile list`",
    )


def _shipped_entry(location: ProfileLocation) -> Traversable | None:
    # read shipped profiles through importlib.resources: works from a zip too
    return shipped_dir().joinpath(location.name + SUFFIX) if location.origin == "shipped" else None


#: checked profiles by (path, the file's text): a script or a server that opens
#: device after device with the same profile parses it once (4-5 ms each time
#: otherwise: docs/performance.md), and an edited file is parsed again
_PARSED: dict[tuple[str, str], Profile] = {}
_PARSED_MAX = 16


def load_at(location: ProfileLocation) -> Profile:
    """Read and check the profile at a location from `list_profiles`/`find_profile`.

    The file is read every time; it is parsed again only when its text
    changed (a Profile is immutable, so the same one is shared)."""
    text = _read(location, _shipped_entry(location))
    key = (location.path, text)
    profile = _PARSED.get(key)
    if profile is None:
        from wsctl.core.profile.loader import parse_profile

        profile = parse_profile(text, source=location.path)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = profile
    return profile


class ProfileSummary(NamedTuple):
    id: str
    title: str
    version: str
    commands: int


def summary_at(location: ProfileLocation) -> ProfileSummary:
    """What `profile list` shows of the profile at LOCATION, without checking the rest of it.

    InvalidInput when the file is not TOML, not format wsctl-profile/1, or its
    [profile] id / title / version or [commands] are not what the loader
    would accept at all; anything deeper is found when the profile is loaded.
    """
    from wsctl.core.profile.format import FORMAT, PROFILE_ID
    from wsctl.core.toml_text import parse_toml

    text = _read(location, _shipped_entry(location))
    data = parse_toml(text, str(location.path))  # as the loader says it
    if data.get("format") != FORMAT:
        raise InvalidInput(f"{location.path}: format: expected {FORMAT!r}, got {data.get('format')!r}")
    meta, commands = data.get("profile"), data.get("commands", {})
    if not isinstance(meta, dict) or not isinstance(meta.get("id"), str) or not PROFILE_ID.fullmatch(meta["id"]):
        raise InvalidInput(f"{location.path}: profile.id: missing, or not letters, digits, '.', '_' and '-'")
    title, version = meta.get("title", meta["id"]), meta.get("version", "0")
    if not isinstance(title, str) or not isinstance(version, str) or not isinstance(commands, dict):
        raise InvalidInput(f"{location.path}: profile.title, profile.version or commands has the wrong type")
    return ProfileSummary(meta["id"], title, version, len(commands))


def load_location(name_or_path: str, *, cwd: Cwd = None, environ: Environ = None) -> tuple[Profile, ProfileLocation]:
    location = find_profile(name_or_path, cwd=cwd, environ=environ)
    return load_at(location), location


def load_profile(name_or_path: str, *, cwd: Cwd = None, environ: Environ = None) -> Profile:
    """The checked Profile for a name (see module docstring) or a path to a .toml file.

    Raises InvalidInput (exit 8) for an unknown name (listing the known ones), an
    unreadable file, or a profile that does not validate (naming file and field).
    """
    return load_location(name_or_path, cwd=cwd, environ=environ)[0]


def load_installed(name: str, *, cwd: Cwd = None, environ: Environ = None) -> Profile:
    """The installed profile (project, user or shipped) of a plain NAME or id,
    for names that came from a file: a recording's header says which profile
    its session spoke, and a recording travels, so its ``profile`` field is
    never opened as a path (``/dev/zero``, a FIFO, ``../../secret.toml``)."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise InvalidInput(
            f"profile {name!r} is not a plain profile name (letters, digits, '.', '_', '-'); it is never opened as a path",
            hint="give the profile with --profile NAME|FILE",
        )
    location = _find_installed(name, cwd=cwd, environ=environ)
    return load_at(location)
