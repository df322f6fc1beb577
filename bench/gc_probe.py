"""Run a wsctl command with the garbage collector and the heap watched.

    python bench/gc_probe.py OUT.json [--saveall] [--tracemalloc] -- hub --listen ... (wsctl's arguments)

The command runs in this process (wsctl.cli.main); SIGUSR1 writes a report to
OUT.json (appending one JSON object per line) and carries on:

- per generation: collections, seconds spent (gc.callbacks), objects collected;
- live objects by type (gc.get_objects, objgraph-style counting);
- with --saveall: gc.set_debug(gc.DEBUG_SAVEALL) keeps what each collection
  found unreachable in gc.garbage; the report counts it by type, and for the
  commonest kinds the function and line that created frames and tracebacks —
  that is the cyclic garbage, and where it comes from.  gc.garbage is emptied
  after each report, so each report covers the time since the last one;
- with --tracemalloc: the 25 source lines holding most memory.

A diagnosis tool for bench/, never part of wsctl (no new runtime dependency).
"""

from __future__ import annotations

import collections
import gc
import json
import signal
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Watch:
    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        g = info["generation"]
        self.count[g] += 1
        self.seconds[g] += time.perf_counter() - self._t
        self.collected[g] += info["collected"]


def where(obj: object) -> str | None:
    frame = None
    if isinstance(obj, types.FrameType):
        frame = obj
    elif isinstance(obj, types.TracebackType):
        frame = obj.tb_frame
    elif isinstance(obj, (types.CoroutineType, types.GeneratorType)):
        return f"{obj.__qualname__}"
    elif isinstance(obj, types.FunctionType):
        return f"{obj.__module__}.{obj.__qualname__}"
    elif isinstance(obj, BaseException):
        return type(obj).__module__ + "." + type(obj).__qualname__
    if frame is None:
        return None
    code = frame.f_code
    return f"{code.co_filename.rsplit('/site-packages/', 1)[-1].rsplit('/wt/perf/', 1)[-1]}:{code.co_name}:{frame.f_lineno}"


PREVIOUS: list = []


def report(out: Path, watch: Watch, tracing: bool) -> None:
    objects = gc.get_objects()
    by_type = collections.Counter(type(o).__qualname__ for o in objects)
    item: dict = {
        "t": time.time(),
        "gc_count": watch.count,
        "gc_seconds": [round(s, 3) for s in watch.seconds],
        "gc_collected": watch.collected,
        "gc_get_count": gc.get_count(),
        "gc_threshold": gc.get_threshold(),
        "frozen": gc.get_freeze_count(),
        "objects": len(objects),
        "types": by_type.most_common(40),
    }
    del objects
    if gc.get_debug() & gc.DEBUG_SAVEALL:
        garbage = list(gc.garbage)
        gc.garbage.clear()
        item["garbage"] = len(garbage)
        item["garbage_types"] = collections.Counter(type(o).__qualname__ for o in garbage).most_common(40)
        origins = collections.Counter(w for o in garbage if (w := where(o)) is not None)
        item["garbage_where"] = origins.most_common(60)
        del garbage
    if tracing:
        import tracemalloc

        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        if PREVIOUS:
            # what grew since the last report, by source line: per-connection memory
            item["grown_top"] = [
                (str(s.traceback[0]).rsplit("/site-packages/", 1)[-1], s.size_diff // 1024, s.count_diff)
                for s in snap.compare_to(PREVIOUS[-1], "lineno")[:45]
            ]
            PREVIOUS.clear()
        PREVIOUS.append(snap)
        item["traced_kib"] = sum(s.size for s in snap.statistics("filename")) // 1024
        item["traced_top"] = [
            (str(s.traceback[0]).rsplit("/site-packages/", 1)[-1], s.size // 1024, s.count)
            for s in snap.statistics("lineno")[:30]
        ]
    with out.open("a") as f:
        f.write(json.dumps(item) + "\n")


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--")
    opts, wsctl_args = argv[:split], argv[split + 1 :]
    out = Path(opts[0])
    watch = Watch()
    gc.callbacks.append(watch)
    if "--saveall" in opts:
        gc.set_debug(gc.DEBUG_SAVEALL)
    tracing = "--tracemalloc" in opts
    if tracing:
        import tracemalloc

        tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, lambda *_: report(out, watch, tracing))
    from wsctl.cli.main import main as wsctl_main

    sys.argv = ["wsctl", *wsctl_args]
    wsctl_main()


if __name__ == "__main__":
    main()
