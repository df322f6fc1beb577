"""Every shell block of README.md and docs/*.md marked runnable is run, as a reader pastes it.

A block is runnable when its fence says so: ```` ```sh doctest ````.  The runnable
blocks of one file are one session, in order, in a fresh directory (a reader
follows a page from the top): bash with ``-euo pipefail``, HOME and the XDG
directories inside the sandbox, no WSCTL_* variables from the machine except
``WSCTL_PASSWORD`` (the passphrase a reader types at the prompt), stdin empty.

- ``127.0.0.1:PORT`` addresses become free ports (one per distinct PORT in the file);
  after a line that starts a server in the background (``... --listen 127.0.0.1:PORT
  ... &``) the session waits until that port accepts, as a person typing the next
  line gives it time; every background job is stopped at the end.
- A command that must fail says so with a trailing ``# -> exit N``: the session
  checks that exact status instead of stopping.

A Python block marked ```` ```python doctest ```` is run as a script of its own,
in the same kind of sandbox, and must exit 0.

The other blocks (sample output, other machines' addresses, interactive consoles)
are prose; docs/hub.md, docs/federation.md and docs/profiles.md also have tests of
their own.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(?:sh|bash) doctest[^\n]*\n(.*?)^```", re.M | re.S)
PYTHON_FENCE = re.compile(r"^```python doctest[^\n]*\n(.*?)^```", re.M | re.S)
EXPECT = re.compile(r"^(?P<command>.*?)\s+#\s*->\s*exit\s+(?P<code>\d+)\s*$")
PASSPHRASE = "a long doc-test passphrase"


def runnable_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_script(blocks: list[str]) -> str:
    """The bash script of one page's runnable blocks."""
    text = "\n".join(blocks).replace("\\\n", " ")
    ports = {port: str(_free_port()) for port in sorted(set(re.findall(r"127\.0\.0\.1:(\d{2,5})\b", text)))}
    text = re.sub(r"127\.0\.0\.1:(\d{2,5})\b", lambda m: f"127.0.0.1:{ports.get(m.group(1), m.group(1))}", text)
    lines = ["trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for number, line in enumerate(text.splitlines(), 1):
        expected = EXPECT.match(line)
        code = line.split(" #", 1)[0].rstrip()
        if expected:
            command, status = expected.group("command"), expected.group("code")
            lines += [
                "set +e",
                command,
                "rc=$?",
                "set -e",
                f'[ "$rc" = {status} ] || {{ echo "doc line {number}: exit $rc, expected {status}: '
                f'{_quoted(command)}" >&2; exit 99; }}',
            ]
            continue
        lines.append(line)
        listen = re.search(r"--listen 127\.0\.0\.1:(\d+)", code)
        if code.endswith("&") and listen:
            lines.append(
                f"for i in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/{listen.group(1)}) 2>/dev/null && break; "
                "sleep 0.1; done"
            )
    return "\n".join(lines) + "\n"


def _quoted(command: str) -> str:
    return command.replace("'", "").replace('"', "").replace("$", "")


def sandbox_environ(workdir: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_") and not k.startswith("XDG_")}
    environ.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}",
        HOME=str(workdir),
        XDG_CONFIG_HOME=str(workdir / ".config"),
        XDG_STATE_HOME=str(workdir / ".local" / "state"),
        XDG_DATA_HOME=str(workdir / ".local" / "share"),
        WSCTL_PASSWORD=PASSPHRASE,
        NO_COLOR="1",
    )
    return environ


def run_session(blocks: list[str], workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", session_script(blocks)],
        cwd=workdir,
        env=sandbox_environ(workdir),
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


PAGES_WITH_BLOCKS = [page for page in PAGES if runnable_blocks(page.read_text())]


@pytest.mark.parametrize("page", PAGES_WITH_BLOCKS, ids=[p.name for p in PAGES_WITH_BLOCKS])
def test_runnable_blocks_run_as_written(page, tmp_path):
    run = run_session(runnable_blocks(page.read_text()), tmp_path)
    assert run.returncode == 0, f"{page.name}:\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


PYTHON_BLOCKS = [
    pytest.param(block, id=f"{page.name}-{number}")
    for page in PAGES
    for number, block in enumerate(PYTHON_FENCE.findall(page.read_text()), 1)
]


@pytest.mark.parametrize("block", PYTHON_BLOCKS)
def test_runnable_python_blocks_run(block, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(block)
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=sandbox_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"


def test_the_pages_that_teach_a_first_session_have_runnable_blocks():
    # a marker lost in an edit must not turn this test into one that checks nothing
    names = {page.name for page in PAGES_WITH_BLOCKS}
    assert {"README.md", "certs.md", "simulator.md"} <= names
    assert any("python-api.md" in str(param.id) for param in PYTHON_BLOCKS)
    # the reconnect example too: a session that reconnects after a 1001 close, run as written
    api = PYTHON_FENCE.findall((ROOT / "docs" / "python-api.md").read_text())
    assert any("run_with_reconnect" in block and "1001" in block for block in api)


def test_a_block_that_fails_fails_the_session(tmp_path):
    assert run_session(["true\nfalse\n"], tmp_path).returncode != 0
    run = run_session(["wsctl exit-codes --nope   # -> exit 0\n"], tmp_path)
    assert run.returncode == 99 and "expected 0" in run.stderr


def test_an_expected_exit_status_is_checked(tmp_path):
    assert run_session(["wsctl exit-codes --nope   # -> exit 2\n"], tmp_path).returncode == 0


def test_ports_are_replaced_consistently(tmp_path):
    script = session_script(["echo 127.0.0.1:8443 127.0.0.1:8443 127.0.0.1:9443\n"])
    replaced = re.findall(r"127\.0\.0\.1:(\d+)", script.splitlines()[1])
    assert replaced[0] == replaced[1] != replaced[2] and "8443" not in replaced
