"""A peer that lives in its own asyncio loop, in a thread: how the tests run the
mobilityhouse `ocpp` library (asyncio, on python-websockets) beside trio.

A subclass writes `session()`: connect, boot, call `self.ready.set()`, then
`await self.until_stopped()`.  An exception ends the thread and is kept in
`error` (and sets `ready`, so a waiting test wakes up and can report it)."""

from __future__ import annotations

import asyncio
import threading


class AsyncioPeer(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    async def session(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        await self.session()

    async def until_stopped(self) -> None:
        assert self._stopping is not None
        await self._stopping.wait()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(10)
