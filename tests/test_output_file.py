"""--out FILE: regular files are replaced atomically; links, FIFOs and devices are written through."""

import os
import stat
import threading

import pytest

from wsctl.cli.support.output_file import write_output


def test_regular_file_is_replaced_with_the_mode_asked(tmp_path):
    out = tmp_path / "a.p12"
    out.write_bytes(b"old")
    write_output(out, b"new", mode=0o600)
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.p12"]


def test_symlink_is_written_through_not_replaced(tmp_path):
    real = tmp_path / "real.pem"
    real.write_bytes(b"")
    link = tmp_path / "link.pem"
    link.symlink_to(real)
    write_output(link, b"cert")
    assert link.is_symlink() and real.read_bytes() == b"cert"


def test_fifo_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_output(fifo, b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_stays_a_device(tmp_path):
    # the test's own null device (same numbers as /dev/null), so that a failure
    # replaces a file of the test's and not the machine's /dev/null
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD); the FIFO test covers the path")
    write_output(device, b"nothing")
    info = os.lstat(device)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left
