"""A small OCPP-J central system for the dial-in tests, on wsctl's own trio wss
server (mutual TLS, the plant store's device certificate as server
certificate): it answers the charger's CALLs like a CSMS does (BootNotification
by a script of answers, StartTransaction with the transactionId it assigns,
TransactionEvent and the rest with an empty result) and sends its own CALLs,
one outstanding per direction as OCPP requires.

``csms = await start_csms(nursery, sim_pki, ...)`` serves; ``await
start_dialing(nursery, sim_pki, profile, url)`` makes a simulated device dial
it with the plant's device certificate; ``conn = await csms.connected()`` waits
for the charger; ``await conn.call(...)``,
``await conn.expect(...)`` drive the conversation; ``conn.calls`` is every
CALL the charger made, in order, as (action, payload)."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from typing import Any

import trio

from wsctl.files.profiles import load_profile
from wsctl.net.api import serve
from wsctl.net.simulate import Simulator

NOW = "2024-01-01T00:00:00Z"


def default_answers(transaction_id: int = 42, boots=({"status": "Accepted", "interval": 300},)) -> dict[str, Callable]:
    """Answers per action; BootNotification answers follow `boots` in turn (the last repeats)."""
    boot_iter = itertools.chain(boots, itertools.repeat(boots[-1]))
    return {
        "BootNotification": lambda payload: {**next(boot_iter), "currentTime": NOW},
        "Heartbeat": lambda payload: {"currentTime": NOW},
        "StartTransaction": lambda payload: {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}},
        "StopTransaction": lambda payload: {"idTagInfo": {"status": "Accepted"}},
        "Authorize": lambda payload: {"idTagInfo": {"status": "Accepted"}},
    }


class ChargerConnection:
    def __init__(self, conn: Any, answers: dict[str, Callable]) -> None:
        self.conn = conn
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []
        self.path = None
        self._ids = itertools.count(1)
        self._pending: list[tuple[str, Any]] = []  # calls received, not yet taken by expect()

    async def _next_frame(self, timeout: float) -> list:
        return json.loads(await self.conn.receive(timeout=timeout))

    async def _take_call(self, frame: list) -> None:
        _, uid, action, payload = frame
        self.calls.append((action, payload))
        self._pending.append((action, payload))
        answer = self.answers.get(action, lambda payload: {})(payload)
        await self.conn.send(json.dumps([3, uid, answer]))

    async def call(self, action: str, payload: dict, timeout: float = 10) -> Any:
        """Send a CALL; answer the charger's own CALLs meanwhile; return the CALLRESULT payload
        (or the CALLERROR frame)."""
        uid = f"csms-{next(self._ids)}"
        await self.conn.send(json.dumps([2, uid, action, payload]))
        with trio.fail_after(timeout):
            while True:
                frame = await self._next_frame(timeout)
                if frame[0] == 2:
                    await self._take_call(frame)
                elif frame[1] == uid:
                    return frame[2] if frame[0] == 3 else frame

    async def expect(self, action: str, timeout: float = 10) -> Any:
        """The payload of the charger's next CALL of `action` (answered); calls of
        other actions on the way are answered and kept in `calls`."""
        with trio.fail_after(timeout):
            while True:
                while self._pending:
                    got, payload = self._pending.pop(0)
                    if got == action:
                        return payload
                frame = await self._next_frame(timeout)
                if frame[0] == 2:
                    await self._take_call(frame)

    async def next_call(self, timeout: float = 10) -> tuple[str, Any]:
        """The charger's next CALL, whatever it is (answered)."""
        with trio.fail_after(timeout):
            while not self._pending:
                frame = await self._next_frame(timeout)
                if frame[0] == 2:
                    await self._take_call(frame)
            return self._pending.pop(0)

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


class Csms:
    def __init__(self, answers: dict[str, Callable]) -> None:
        self.answers = answers
        self.server: Any = None
        self._send, self._receive = trio.open_memory_channel[ChargerConnection](8)

    async def handler(self, conn: Any) -> None:
        charger = ChargerConnection(conn, self.answers)
        charger.path = getattr(conn, "path", None)
        done = trio.Event()
        charger.done = done  # type: ignore[attr-defined]
        await self._send.send(charger)
        await done.wait()  # the test drives the connection; it ends when the test says so

    async def connected(self, timeout: float = 15) -> ChargerConnection:
        with trio.fail_after(timeout):
            return await self._receive.receive()

    def url(self, path: str) -> str:
        return f"wss://localhost:{self.server.port}{path}"


async def start_csms(nursery: trio.Nursery, sim_pki, *, subprotocols=("ocpp1.6",), **answers_kw) -> Csms:
    csms = Csms(default_answers(**answers_kw))
    csms.server = await nursery.start(
        functools.partial(
            serve,
            csms.handler,
            cert_chain=sim_pki.device.chain,
            key=sim_pki.device.key,
            ca=sim_pki.root,
            client_auth="required",
            subprotocols=subprotocols,
        )
    )
    return csms


async def start_dialing(nursery: trio.Nursery, sim_pki, profile: str, url: str) -> Simulator:
    """A shipped profile's simulator dialing `url` once (device certificate `plc`)."""
    sim = Simulator(load_profile(profile), seed=1)
    await nursery.start(sim.run)
    nursery.start_soon(
        functools.partial(
            sim.dial,
            url,
            role="engineer",
            redial=None,
            ca=sim_pki.root,
            cert=sim_pki.device.chain,
            key=sim_pki.device.key,
            connect_timeout=5,
        )
    )
    return sim
