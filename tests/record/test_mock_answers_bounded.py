"""A mock device (`serve --replay`) bounds the answers under way per connection:
a client that sends matched requests and never reads is held back (the reader
waits) instead of costing a task per request (624,000 of them grew a server
to 1.8 GB).  Real TLS; the tasks counted by a trio instrument."""

from __future__ import annotations

import functools

import trio
from test_record_mockserver import write

from wsctl.net import mockserver
from wsctl.net.api import open_device
from wsctl.net.mockserver import replay_handler
from wsctl.net.server import serve


class AnswerTasks(trio.abc.Instrument):
    def __init__(self) -> None:
        self.live = self.most = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith("guarded"):
            self.live += 1
            self.most = max(self.most, self.live)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith("guarded"):
            self.live -= 1


async def test_a_client_that_never_reads_holds_a_bounded_number_of_answers(plant, tmp_path, monkeypatch):
    monkeypatch.setattr(mockserver, "MAX_ANSWERS_IN_FLIGHT", 8, raising=False)
    path = tmp_path / "mock.jsonl"
    write(path)
    handler = replay_handler(path, speed=0.001, unsolicited=False)  # each answer waits: they pile up
    tasks = AnswerTasks()
    trio.lowlevel.add_instrument(tasks)
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(serve, handler, host="127.0.0.1", port=0, **plant.server_kwargs())
            )
            async with open_device(f"wss://localhost:{server.port}/", **plant.client_kwargs()) as dev:
                with trio.move_on_after(3):
                    for _ in range(500):
                        await dev.send(b"\x01\x02")  # matched: the recording answers it after 50 s at this speed
                await trio.sleep(0.5)
            nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(tasks)
    assert 0 < tasks.most <= 8 + 1
