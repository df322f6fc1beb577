"""Frame reading and making, per frame: wsproto 1.3's frame layer vs wsctl's (net/ws_frames.py).

    .venv/bin/python bench/bench_frames.py [--quick]

In one process and without I/O on purpose: this is the parsing and framing
alone, which the separate-process benchmarks (bench_roundtrip.py) cannot
isolate.  Both sides in the same run, interleaved, best of 5 repetitions;
microseconds per frame and the ratio wsproto / wsctl.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _per_call(fn, n: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def cases(n: int):  # noqa: ANN201
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.frame_protocol import FrameProtocol

    from wsctl.net.ws_frames import FrameReader, data_frame

    key = os.urandom(4)
    small, big = b"x" * 64, os.urandom(65536)

    def wsproto_reader(server: bool):  # noqa: ANN202
        conn = Connection(ConnectionType.SERVER if server else ConnectionType.CLIENT)

        def read(frame: bytes) -> None:
            conn.receive_data(frame)
            for _ in conn.events():
                pass

        return read

    def wsctl_reader(server: bool):  # noqa: ANN202
        reader = FrameReader(server=server, max_message_size=2**20)
        return reader.read

    masked_client = FrameProtocol(client=True, extensions=[])
    plain_server = FrameProtocol(client=False, extensions=[])
    with mock.patch("wsproto.frame_protocol.os.urandom", return_value=key):
        masked_small = bytes(masked_client.send_data(small, True))
        masked_text = bytes(masked_client.send_data("x" * 64, True))
        masked_big = bytes(masked_client.send_data(big, True))
    plain_text = bytes(plain_server.send_data("x" * 64, True))
    ten = masked_small * 10
    yield "server reads a masked 64 B binary frame", n, (wsproto_reader(True), wsctl_reader(True)), masked_small
    yield "server reads a masked 64 B text frame", n, (wsproto_reader(True), wsctl_reader(True)), masked_text
    yield "client reads a 64 B text frame", n, (wsproto_reader(False), wsctl_reader(False)), plain_text
    yield (
        "server reads ten 64 B frames in one chunk (per chunk)",
        n // 10,
        (wsproto_reader(True), wsctl_reader(True)),
        ten,
    )
    yield "server reads a masked 64 KiB frame", n // 20, (wsproto_reader(True), wsctl_reader(True)), masked_big
    yield (
        "client makes a masked 64 B frame",
        n,
        (lambda _: masked_client.send_data(small, True), lambda _: data_frame(small, os.urandom(4))),
        None,
    )
    yield (
        "server makes a 64 B frame",
        n,
        (lambda _: plain_server.send_data(small, True), lambda _: data_frame(small, None)),
        None,
    )
    yield (
        "client makes a masked 64 KiB frame",
        n // 20,
        (lambda _: masked_client.send_data(big, True), lambda _: data_frame(big, os.urandom(4))),
        None,
    )


def main() -> None:
    from wsctl.net import ws_frames

    n = 2000 if "--quick" in sys.argv else 20000
    print(f"masking XOR: {ws_frames.IMPLEMENTATION}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'per frame, us':56}{'wsproto':>10}{'wsctl':>10}{'ratio':>8}")
    for name, count, (theirs, ours), arg in cases(n):
        a = _per_call(lambda: theirs(arg), count)  # noqa: B023
        b = _per_call(lambda: ours(arg), count)  # noqa: B023
        print(f"{name:56}{a:>10.2f}{b:>10.2f}{a / b:>8.1f}")


if __name__ == "__main__":
    main()
