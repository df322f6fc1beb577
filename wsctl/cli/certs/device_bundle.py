"""Writing `wsctl certs export NAME --format device-bundle --out DIR`: a directory of files.

The directory appears whole or not at all: the files are written into a hidden
sibling first, which is then renamed onto DIR (rename replaces an empty directory),
so an interrupted export never leaves half a bundle — or a stray plain key — at DIR.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InvalidInput(f"{target} exists and is not a directory; a device bundle is a directory")
    if target.is_dir() and any(target.iterdir()):
        raise InvalidInput(f"{target} is not empty; give a new directory (a bundle never mixes with other files)")


def write_device_bundle(env: Environment, store, target_name: str, entry, out: str, key_password: bytes | None) -> None:
    from wsctl.pki.export import device_bundle

    target = Path(out)
    _check_target(target)
    files = device_bundle(store, target_name, key_password=key_password)
    # a name nobody can guess, made here: the clean-up never removes someone else's directory
    staging = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        os.mkdir(staging, 0o700)
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        for name, data in files.items():
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fsync(fh.fileno())
        os.rename(staging, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if "key.pem" in files:
        env.warn(
            f"{target} holds the private key of {entry.name} UNENCRYPTED (files 0600): "
            "copy it to the device, then delete the directory"
        )
    else:
        env.warn(f"{entry.name} was signed from a CSR: its key never entered the store, so the bundle has no key")
    env.emit(
        {
            "action": "export",
            "target": entry.name,
            "serial": format(entry.serial, "x"),
            "format": "device-bundle",
            "out": str(target),
            "files": sorted(files),
            "key": "key.pem" in files,
        },
        f"wrote the device bundle of {entry.name} to {target}/: {' '.join(sorted(files))}\n"
        f"  {target}/README.txt says which file goes where",
    )
