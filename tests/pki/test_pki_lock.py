"""The store lock: waits are bounded, and the lock is refused through a symlink."""

from __future__ import annotations

import fcntl
import os

import pytest

from wsctl.core.errors import InvalidInput, StoreError
from wsctl.pki import fsutil


def test_a_held_lock_fails_after_the_timeout_instead_of_hanging(tmp_path):
    lock = tmp_path / ".lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: conflicts like another process
    try:
        with pytest.raises(StoreError, match="locked by another wsctl run"):
            with fsutil.locked(lock, timeout=0.2):
                pass
    finally:
        os.close(holder)
    with fsutil.locked(lock, timeout=0.2):
        pass


def test_the_lock_is_not_created_through_a_symlink(tmp_path):
    lock = tmp_path / ".lock"
    lock.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidInput, match="symbolic link"):
        with fsutil.locked(lock, timeout=0.2):
            pass
    assert not (tmp_path / "elsewhere").exists()
