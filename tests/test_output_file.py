"""--out FILE: regular files are replaced atomically; links, FIFOs and devices are written through."""

import os
import stat
import threading

import pytest

from wsctl.cli.support.output_file import write_output
from wsctl.core.errors import InvalidInput


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


@pytest.mark.parametrize("dangling", [False, True])
def test_private_output_is_never_written_through_a_symlink(tmp_path, dangling):
    """A plain key or a p12 (mode 0600) through a link would land in a file
    others can read (the link's target keeps its mode, a new one gets the umask's)."""
    real = tmp_path / "shared.pem"
    if not dangling:
        real.write_bytes(b"public")
        real.chmod(0o644)
    link = tmp_path / "d1.key"
    link.symlink_to(real)
    with pytest.raises(InvalidInput, match="symbolic link"):
        write_output(link, b"-----BEGIN PRIVATE KEY-----", mode=0o600)
    assert link.is_symlink()
    assert (real.read_bytes() == b"public") if not dangling else not real.exists()


def test_a_symlink_to_a_device_is_written_through_also_for_private_output(tmp_path):
    link = tmp_path / "out"
    link.symlink_to("/dev/null")
    write_output(link, b"key", mode=0o600)
    assert link.is_symlink()


def test_a_temporary_name_of_someone_elses_is_never_removed(tmp_path):
    """The temporary file has a name nobody can guess; a file named as the old
    predictable one stays untouched."""
    out = tmp_path / "a.pem"
    theirs = tmp_path / f".a.pem.tmp-{os.getpid()}"
    theirs.write_bytes(b"theirs")
    write_output(out, b"mine")
    assert out.read_bytes() == b"mine" and theirs.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.pem", theirs.name])


@pytest.mark.parametrize("where", ["missing-dir/x.pem", "file/x.pem", "."])
def test_an_output_that_cannot_be_written_is_invalid_input_with_the_reason(tmp_path, where):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(InvalidInput, match="cannot write") as caught:
        write_output(tmp_path / where, b"x")
    assert "Errno" not in caught.value.message
