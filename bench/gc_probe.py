"""Run a wsctl command with the garbage collector and the heap watched.

    python bench/gc_probe.py OUT.json [--saveall] [--tracemalloc] [--trim] -- hub --listen ... (wsctl's arguments)

The command runs in this process (wsctl.cli.main); SIGUSR1 writes a report to
OUT.json (appending one JSON object per line) and carries on:

- per generation: collections, seconds spent (gc.callbacks), objects collected;
- live objects by type (gc.get_objects, objgraph-style counting);
- with --saveall: gc.set_debug(gc.DEBUG_SAVEALL) keeps what each collection
  found unreachable in gc.garbage; the report counts it by type, and for the
  commonest kinds the function and line that created frames and tracebacks —
  that is the cyclic garbage, and where it comes from.  gc.garbage is emptied
  after each report, so each report covers the time since the last one;
- with --tracemalloc: the 30 source lines holding most memory, and the 45
  that grew most since the last report;
- SIGUSR2 starts cProfile, the next SIGUSR2 writes its top 40 by own time
  (and the whole profile to OUT-1.pstats, OUT-2.pstats ...); with
  --cpu-clock it counts the thread's CPU time, not wall time (a send that
  wakes another process and is preempted by it is not charged the other
  process's work: on a busy 2-core machine that is most of a wall profile);
- --no-tune (wsctl's own collector settings off), --threshold=A,B,C,
  --freeze-after=SECONDS, --refreeze (freeze after every full collection):
  the variants compared in docs/performance.md;
- --tracebacks=FILE: the server's error lines with their tracebacks;
- with --trim: RSS before and after glibc's malloc_trim(0) (memory malloc
  holds free, i.e. fragmentation, versus memory in use).

wsctl comes from the interpreter's own install (so another venv's python
measures that checkout).  A diagnosis tool for bench/, never part of wsctl (no new runtime dependency).
"""

from __future__ import annotations

import collections
import gc
import json
import signal
import sys
import threading
import time
import types
from pathlib import Path


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
TRIM = False


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
    import ssl

    item["ssl_contexts"] = [o.session_stats() for o in objects if isinstance(o, ssl.SSLContext)]
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
    if TRIM:
        # how much of the RSS is memory malloc holds free (fragmentation), not objects
        import ctypes

        before = _rss_kib()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        item["rss_kib_before_trim"], item["rss_kib_after_trim"] = before, _rss_kib()
    with out.open("a") as f:
        f.write(json.dumps(item) + "\n")


def _refreeze(phase: str, info: dict) -> None:
    """After each full collection, freeze what survived it (the experiment of
    docs/performance.md: later full collections then scan only newer objects)."""
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


PROFILER: list = []
CPU_CLOCK = False
PROFILES_WRITTEN: list[Path] = []


def toggle_profile(out: Path) -> None:
    """SIGUSR2: start cProfile; the next SIGUSR2 stops it and writes the top 40 (tottime)."""
    import cProfile
    import io
    import pstats

    if not PROFILER:
        PROFILER.append(cProfile.Profile(time.thread_time) if CPU_CLOCK else cProfile.Profile())
        PROFILER[0].enable()
        return
    prof = PROFILER.pop()
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(40)
    with out.open("a") as f:
        f.write(json.dumps({"profile": text.getvalue()}) + "\n")
    # the whole profile too, for sorting by cumulative time or callers (pstats)
    PROFILES_WRITTEN.append(out.with_name(f"{out.stem}-{len(PROFILES_WRITTEN) + 1}.pstats"))
    prof.dump_stats(PROFILES_WRITTEN[-1])


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


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
    global TRIM, CPU_CLOCK
    TRIM = "--trim" in opts
    CPU_CLOCK = "--cpu-clock" in opts
    if tracing:
        import tracemalloc

        tracemalloc.start(1)
    for opt in opts:
        if opt.startswith("--threshold="):
            gc.set_threshold(*(int(x) for x in opt.split("=", 1)[1].split(",")))
        elif opt.startswith("--freeze-after="):
            # gc.freeze() once start-up is over (the listening line comes first)
            timer = threading.Timer(float(opt.split("=", 1)[1]), gc.freeze)
            timer.daemon = True
            timer.start()
        if opt.startswith("--tracebacks="):
            # errors of wsctl.net.server with their tracebacks (it attaches them at DEBUG)
            import logging

            handler = logging.FileHandler(opt.split("=", 1)[1])
            handler.setLevel(logging.ERROR)
            server_log = logging.getLogger("wsctl.net.server")
            server_log.setLevel(logging.DEBUG)
            server_log.addHandler(handler)
    if "--refreeze" in opts:
        gc.callbacks.append(_refreeze)
    signal.signal(signal.SIGUSR1, lambda *_: report(out, watch, tracing))
    signal.signal(signal.SIGUSR2, lambda *_: toggle_profile(out))
    from wsctl.cli.main import main as wsctl_main

    if "--no-tune" in opts:
        # measure the collector as Python sets it, without wsctl's own tuning
        try:
            import wsctl.net.gc_tuning as tuning
        except ImportError:
            pass  # a checkout from before the tuning: nothing to turn off
        else:
            tuning.tune = lambda *args, **kwargs: None

    sys.argv = ["wsctl", *wsctl_args]
    wsctl_main()


if __name__ == "__main__":
    main()
