"""A server whose stdout nobody reads keeps serving (wsctl.cli.support.server_output).

The pipe under the server's stdout is shrunk to one page (F_SETPIPE_SZ), so a
few access lines fill it; before, the next line blocked the event loop and
with it every connection.  The buffer itself is tested on real pipes: order,
the bound, the line that stands for dropped lines, a reader that went away,
a bounded exit.
"""

from __future__ import annotations

import os
import select
import threading

from client_helpers import PASSWORD, wsctl
from pipe_helpers import PAGE, UnreadServer, plain_http_knock, read_all, shrunk_pipe

from wsctl.cli.support.server_output import BackgroundLines


def test_serve_goes_on_serving_while_its_stdout_is_not_read(plant):
    args = ["serve", "--listen", "127.0.0.1:0", "--echo", "--certs", str(plant.certs), "--device", "dev"]
    with UnreadServer(*args, env={"WSCTL_PASSWORD": PASSWORD}) as server:
        port = int(server.first["url"].rsplit(":", 1)[1].strip("/"))
        knocks = 60  # ~390 bytes of access line each: ~6 times what the pipe holds
        for _ in range(knocks):
            plain_http_knock(port)
        out = wsctl(
            "send", server.first["url"], "--certs", str(plant.certs), "--operator", "bob", "--raw", "still here"
        )
        assert out.returncode == 0 and out.stdout == "still here\n", out.stderr
        lines = server.stop()
    outcomes = [line.get("outcome") for line in lines if line["event"] == "connection"]
    assert outcomes.count("tls-failed") >= knocks - 1  # the first may have been in the first read
    assert "closed" in outcomes  # the send, logged after the knocks
    assert not any(line["event"] == "output-dropped" for line in lines)
    assert b"not written" not in server.proc.stderr.read()


def _guarded(fn) -> None:
    """Run fn in a thread; it must return, a blocked write is a failure, not a hang."""
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(20), "a write blocked"
    assert not errors, errors


def _numbered(n: int, width: int = 100) -> str:
    return f"{n:06d} " + "x" * (width - 8) + "\n"


def test_lines_past_the_bound_are_dropped_and_counted_where_they_were():
    read_end, write_end = shrunk_pipe()
    sink = BackgroundLines(write_end, notice=lambda n: f"DROPPED {n}\n", max_bytes=2000)
    _guarded(lambda: [sink.write(_numbered(i)) for i in range(500)])
    assert sink.dropped > 0
    got = os.read(read_end, 2 * PAGE)  # let the writer move on
    while select.select([read_end], [], [], 1)[0]:
        got += os.read(read_end, 65536)
    sink.write(_numbered(500))
    sink.close(timeout=10)
    got += read_all(read_end)
    os.close(read_end)
    lines = got.decode().splitlines()
    expected = 0  # each number in order; a DROPPED line stands for exactly the numbers missing there
    for line in lines:
        if line.startswith("DROPPED"):
            expected += int(line.split()[1])
        else:
            assert int(line.split()[0]) == expected, line[:20]
            expected += 1
    assert expected == 501
    assert sum(int(line.split()[1]) for line in lines if line.startswith("DROPPED")) == sink.dropped > 0
    assert sink.lost == sink.dropped
    assert all(len(line) == 99 for line in lines if not line.startswith("DROPPED"))  # no line cut


def test_a_reader_that_went_away_loses_the_lines_not_the_server():
    read_end, write_end = shrunk_pipe()
    os.close(read_end)
    sink = BackgroundLines(write_end, notice=lambda n: f"DROPPED {n}\n")
    _guarded(lambda: [sink.write(_numbered(i)) for i in range(100)])
    sink.close(timeout=10)
    assert sink.broken == "the reader closed its end"
    assert sink.lost == 100 and sink.dropped == 0


def test_exit_waits_for_a_reader_that_never_reads_only_so_long():
    read_end, write_end = shrunk_pipe()
    sink = BackgroundLines(write_end, notice=lambda n: f"DROPPED {n}\n")
    _guarded(lambda: [sink.write(_numbered(i)) for i in range(200)])
    _guarded(lambda: sink.close(timeout=0.2))
    assert sink.lost > 0 and sink.dropped == 0  # still pending when the wait was over
    os.close(read_end)


def test_text_is_written_as_utf8_and_flush_never_waits():
    read_end, write_end = os.pipe()
    sink = BackgroundLines(write_end, notice=lambda n: "")
    sink.write("Zähler 17 → ok\n")
    sink.flush()
    sink.close(timeout=10)
    assert read_all(read_end).decode() == "Zähler 17 → ok\n"
    os.close(read_end)
