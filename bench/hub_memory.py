"""What one more connected device costs the hub in Python objects, and whose they are.

    .venv/bin/python bench/hub_memory.py                 # 2 x 300 devices, ~1 min
    .venv/bin/python bench/hub_memory.py --devices 1000
    .venv/bin/python bench/hub_memory.py --devices 150 --top 50 --stacks   # where, with the callers
    .venv/bin/python bench/hub_memory.py --devices 150 --malloc-only       # what malloc holds per device

The hub runs in this process (`wsctl.net.hub.hub.Hub` on the registry and PKI
of bench/hub_fixture.py) under tracemalloc; the devices are bench/hub_devices.py
processes (python-websockets, mTLS, BootNotification), so nothing of theirs is
traced.  After the first half has booted and after the second: a collection,
a snapshot; the growth between the two, divided by the devices added, is what
one more device costs (start-up and first-use caches excluded).

Each allocation is charged twice: to the file that allocated it (``allocated
in``), and to the innermost wsctl frame that led to it (``caused by``: an
`Event` made by the hub is trio's allocation but the hub's doing).  The
categories: the hub's own code (wsctl/net/hub, core/hub, registry), the
session and codec (net/session.py, core/profile), the per-connection machinery
(the rest of wsctl/net, trio-websocket, wsproto, h11), trio, ssl.
RSS is bench_hub.py's business: tracemalloc sees Python's allocations, not
OpenSSL's.  What malloc holds (glibc's ``mallinfo2``: bytes in use, which
OpenSSL's state and Python's objects over 512 bytes are; Python's small
objects live in its own arenas beside it) is printed too, so the growth per
device splits into OpenSSL's and Python's.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from hub_fixture import prepare  # noqa: E402

CATEGORIES = (
    ("hub: net/hub, core/hub, registry", ("wsctl/net/hub/", "wsctl/core/hub/", "wsctl/registry/")),
    ("session and codec: net/session.py, core/profile", ("wsctl/net/session.py", "wsctl/core/profile/")),
    ("connection: wsctl/net (server, wsconn, channel, guard ...)", ("wsctl/net/",)),
    ("connection: trio-websocket, wsproto, h11", ("trio_websocket/", "wsproto/", "h11/")),
    ("trio", ("/trio/",)),
    ("ssl", ("/ssl.py",)),
)


def category(filename: str) -> str:
    for name, parts in CATEGORIES:
        if any(p in filename for p in parts):
            return name
    return "other"


def cause(traceback: tracemalloc.Traceback) -> str:
    """The innermost wsctl frame (tracemalloc lists the oldest frame first)."""
    for frame in reversed(traceback):
        if "/wsctl/" in frame.filename:
            return frame.filename
    return traceback[-1].filename


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def malloc_in_use() -> int | None:
    """Bytes malloc has handed out and not had back (glibc), or None elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def snapshot() -> tuple[tracemalloc.Snapshot | None, int | None]:
    gc.collect()
    if not tracemalloc.is_tracing():
        return None, malloc_in_use()
    traced = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    return traced, malloc_in_use()


def _short(filename: str) -> str:
    return filename.rsplit("/site-packages/", 1)[-1].rsplit("/wsctl/", 1)[-1]


def growth(first: tuple, second: tuple, added: int, top: int = 25) -> dict:
    (before, malloc_before), (after, malloc_after) = first, second
    by_alloc: collections.Counter[str] = collections.Counter()
    by_cause: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    stacks: collections.Counter[str] = collections.Counter()
    large = 0  # what Python took from malloc itself (objects over 512 bytes)
    for diff in after.compare_to(before, "traceback"):
        size = diff.size_diff
        if diff.count_diff and abs(size / diff.count_diff) > 512:
            large += size
        frame = diff.traceback[-1]
        by_alloc[category(frame.filename)] += size
        by_cause[category(cause(diff.traceback))] += size
        lines[f"{_short(frame.filename)}:{frame.lineno}"] += size
        stacks[" < ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(diff.traceback[-4:]))] += size
    return {
        "allocated_in": {k: v / added for k, v in by_alloc.most_common()},
        "caused_by": {k: v / added for k, v in by_cause.most_common()},
        "top_lines": [(k, v / added) for k, v in lines.most_common(top)],
        "top_stacks": [(k, v / added) for k, v in stacks.most_common(top)],
        "total": sum(by_alloc.values()) / added,
        "malloc": None if malloc_before is None else (malloc_after - malloc_before) / added,
        "python_large": large / added,
    }


def start_devices(url: str, certs: Path, first: int, count: int, source: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "hub_devices.py"), "--url", url, "--certs", str(certs), "--source", source,
         "--first", str(first), "--count", str(count)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def measure(args) -> dict:
    import trio

    from wsctl.files.profiles import load_profile
    from wsctl.net.hub.hub import Hub
    from wsctl.registry import Registry

    certs, registry_path = prepare(args.workdir, args.devices * 2)
    registry = Registry.open(registry_path)
    hub = Hub(registry, load_profile=load_profile)
    tls = dict(
        cert_chain=str(certs / "devices/hub/chain.pem"),
        key=str(certs / "devices/hub/key.pem"),
        ca=str(certs / "ca/root.crt"),
        crl=str(certs / "ca/crl.pem"),
    )
    procs: list[subprocess.Popen] = []

    async def booted(count: int) -> None:
        with trio.fail_after(args.timeout):
            while len(hub.links) < count or any(link.boot_status is None for link in hub.links.values()):
                await trio.sleep(0.2)
        await trio.sleep(1)  # the last answers written

    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: hub.run(task_status=task_status, host="127.0.0.1", port=0, **tls)
            )
            url = f"wss://127.0.0.1:{server.port}/ocpp/{{id}}"
            n = args.devices
            procs.append(start_devices(url, certs, 0, n, "127.0.0.2"))
            await booted(n)
            first = snapshot()
            procs.append(start_devices(url, certs, n, n, "127.0.0.3"))
            await booted(2 * n)
            second = snapshot()
            nursery.cancel_scope.cancel()
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
        registry.close()
    if first[0] is None:
        return {"malloc": None if first[1] is None else (second[1] - first[1]) / args.devices}
    return growth(first, second, args.devices, args.top)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=300, help="devices per half (the growth is over the second)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-hub"))
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--frames", type=int, default=8, help="traceback depth (for 'caused by')")
    p.add_argument(
        "--malloc-only",
        action="store_true",
        help="no tracemalloc: only what malloc holds (OpenSSL's state, Python's objects over 512 B)",
    )
    p.add_argument("--top", type=int, default=25, help="allocation sites listed")
    p.add_argument("--stacks", action="store_true", help="also list the top sites with the 4 innermost frames")
    args = p.parse_args()
    import trio

    if args.malloc_only:
        res = trio.run(measure, args)
        print(f"hub: malloc in use grew {res['malloc'] / 1024:.1f} KiB per device, {args.devices} -> "
              f"{2 * args.devices} devices (tracemalloc off: its own bookkeeping is malloc's too)")  # fmt: skip
        return
    tracemalloc.start(args.frames)
    t0 = time.monotonic()
    res = trio.run(measure, args)
    print(f"hub Python heap growth per device, {args.devices} -> {2 * args.devices} devices "
          f"(tracemalloc, {time.monotonic() - t0:.0f} s): {res['total'] / 1024:.1f} KiB")  # fmt: skip
    if res["malloc"] is not None:
        print(f"  malloc in use grew {res['malloc'] / 1024:.1f} KiB per device, of it Python's objects over 512 B "
              f"{res['python_large'] / 1024:.1f} KiB: the rest, {(res['malloc'] - res['python_large']) / 1024:.1f} KiB, "
              f"is not Python's (OpenSSL's state, mostly)")  # fmt: skip
    for title in ("allocated_in", "caused_by"):
        print(f"  {title.replace('_', ' ')}:")
        for name, size in res[title].items():
            print(f"    {size / 1024:6.2f} KiB  {name}")
    print("  top lines (allocated in):")
    for where, size in res["top_lines"]:
        print(f"    {size:7.0f} B  {where}")
    if args.stacks:
        print("  top stacks (innermost first):")
        for where, size in res["top_stacks"]:
            print(f"    {size:7.0f} B  {where}")


if __name__ == "__main__":
    main()
