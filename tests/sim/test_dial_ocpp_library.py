"""The wsctl charger simulators against a foreign central system: the PyPI
`ocpp` library's (mobilityhouse) ChargePoint used as the central-system handler
on python-websockets `serve` with mutual TLS.  The library validates every
message against the official OCPP JSON schemas, so a malformed simulator
message would be refused before its handler runs."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import trio
from csms_helpers import start_dialing
from sim_central import CentralSystem

ocpp_routing = pytest.importorskip("ocpp.routing")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def central16(ws):
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action, RegistrationStatus

    on = ocpp_routing.on

    class Csms(ChargePoint):
        """A v16 central system: accepts the boot, assigns transaction 42."""

        def __init__(self, *args):
            super().__init__(*args)
            self.seen: list[tuple[str, dict]] = []
            self.status = asyncio.Event()
            self.metered = asyncio.Event()
            self.stopped = asyncio.Event()

        @on(Action.boot_notification)
        def boot(self, **payload):
            self.seen.append(("BootNotification", payload))
            return call_result.BootNotification(current_time=_now(), interval=300, status=RegistrationStatus.accepted)

        @on(Action.status_notification)
        def status_notification(self, **payload):
            self.seen.append(("StatusNotification", payload))
            self.status.set()
            return call_result.StatusNotification()

        @on(Action.heartbeat)
        def heartbeat(self, **payload):
            self.seen.append(("Heartbeat", payload))
            return call_result.Heartbeat(current_time=_now())

        @on(Action.start_transaction)
        def start_transaction(self, **payload):
            self.seen.append(("StartTransaction", payload))
            return call_result.StartTransaction(transaction_id=42, id_tag_info={"status": "Accepted"})

        @on(Action.meter_values)
        def meter_values(self, **payload):
            self.seen.append(("MeterValues", payload))
            if payload.get("transaction_id") == 42:
                self.metered.set()
            return call_result.MeterValues()

        @on(Action.stop_transaction)
        def stop_transaction(self, **payload):
            self.seen.append(("StopTransaction", payload))
            self.stopped.set()
            return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    return Csms(ws.request.path.rsplit("/", 1)[-1], ws)


async def ocpp16_session(ws, n):
    from ocpp.v16 import call

    cp = central16(ws)
    task = asyncio.create_task(cp.start())
    try:
        await asyncio.wait_for(cp.status.wait(), 10)
        changed = await cp.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
        started = await cp.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
        await asyncio.wait_for(cp.metered.wait(), 10)
        stopped = await cp.call(call.RemoteStopTransaction(transaction_id=42))
        await asyncio.wait_for(cp.stopped.wait(), 10)
        return {"changed": changed.status, "started": started.status, "stopped": stopped.status, "seen": cp.seen}
    finally:
        task.cancel()
        await ws.close()


async def _dial_library_central(sim_pki, profile: str, script, subprotocol: str, path: str):
    central = CentralSystem(sim_pki, script, subprotocols=(subprotocol,))
    await trio.to_thread.run_sync(central.start)
    try:
        async with trio.open_nursery() as nursery:
            await start_dialing(nursery, sim_pki, profile, f"wss://localhost:{central.port}{path}")
            assert await trio.to_thread.run_sync(central.wait, 30)
            nursery.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(central.stop)
    (result,) = central.results
    assert not isinstance(result, BaseException), repr(result)
    assert central.subprotocols == [subprotocol]
    return result


async def test_ocpp16_simulator_with_the_ocpp_librarys_central_system(sim_pki):
    result = await _dial_library_central(sim_pki, "ocpp16-charger", ocpp16_session, "ocpp1.6", "/ocpp/plc")
    assert (result["changed"], result["started"], result["stopped"]) == ("Accepted", "Accepted", "Accepted")
    seen = result["seen"]
    actions = [action for action, _ in seen]
    assert actions[:2] == ["BootNotification", "StatusNotification"]
    start_at = actions.index("StartTransaction")
    # nothing metered before the session, and every reading carries the id the central system gave
    assert "MeterValues" not in actions[:start_at]
    meters = [payload for action, payload in seen if action == "MeterValues"]
    assert meters and {m["transaction_id"] for m in meters} == {42}
    (stop,) = [payload for action, payload in seen if action == "StopTransaction"]
    assert stop["transaction_id"] == 42 and stop["reason"] == "Remote"


def central201(ws):
    from ocpp.v201 import ChargePoint, call_result
    from ocpp.v201.enums import Action, RegistrationStatusEnumType

    on = ocpp_routing.on

    class Csms(ChargePoint):
        """A v201 central system: accepts the boot, records transaction events."""

        def __init__(self, *args):
            super().__init__(*args)
            self.seen: list[tuple[str, dict]] = []
            self.status = asyncio.Event()
            self.updated = asyncio.Event()
            self.ended = asyncio.Event()

        @on(Action.boot_notification)
        def boot(self, **payload):
            self.seen.append(("BootNotification", payload))
            return call_result.BootNotification(
                current_time=_now(), interval=300, status=RegistrationStatusEnumType.accepted
            )

        @on(Action.status_notification)
        def status_notification(self, **payload):
            self.seen.append(("StatusNotification", payload))
            self.status.set()
            return call_result.StatusNotification()

        @on(Action.heartbeat)
        def heartbeat(self, **payload):
            self.seen.append(("Heartbeat", payload))
            return call_result.Heartbeat(current_time=_now())

        @on(Action.meter_values)
        def meter_values(self, **payload):
            self.seen.append(("MeterValues", payload))
            return call_result.MeterValues()

        @on(Action.transaction_event)
        def transaction_event(self, **payload):
            self.seen.append(("TransactionEvent", payload))
            if payload["event_type"] == "Updated" and payload.get("meter_value"):
                self.updated.set()
            if payload["event_type"] == "Ended":
                self.ended.set()
            return call_result.TransactionEvent(id_token_info={"status": "Accepted"})

    return Csms(ws.request.path.rsplit("/", 1)[-1], ws)


def _variable(component: str, variable: str, **extra) -> dict:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


async def ocpp201_session(ws, n):
    from ocpp.v201 import call

    cp = central201(ws)
    task = asyncio.create_task(cp.start())
    try:
        await asyncio.wait_for(cp.status.wait(), 10)
        written = await cp.call(
            call.SetVariables(
                set_variable_data=[
                    _variable("SampledDataCtrlr", "TxUpdatedInterval", attribute_value="1"),
                    _variable("SecurityCtrlr", "Identity", attribute_value="CS-9"),
                    _variable("NoSuchCtrlr", "Thing", attribute_value="1"),
                ]
            )
        )
        read = await cp.call(
            call.GetVariables(
                get_variable_data=[
                    _variable("SampledDataCtrlr", "TxUpdatedInterval"),
                    _variable("SecurityCtrlr", "Identity"),
                    _variable("OCPPCommCtrlr", "NoSuchVariable"),
                ]
            )
        )
        started = await cp.call(
            call.RequestStartTransaction(id_token={"id_token": "TAG-1", "type": "ISO14443"}, remote_start_id=7)
        )
        await asyncio.wait_for(cp.updated.wait(), 10)
        tx_id = next(p for a, p in cp.seen if a == "TransactionEvent")["transaction_info"]["transaction_id"]
        stopped = await cp.call(call.RequestStopTransaction(transaction_id=tx_id))
        await asyncio.wait_for(cp.ended.wait(), 10)
        return {
            "written": [r["attribute_status"] for r in written.set_variable_result],
            "read": [(r["attribute_status"], r.get("attribute_value")) for r in read.get_variable_result],
            "started": started.status,
            "stopped": stopped.status,
            "seen": cp.seen,
        }
    finally:
        task.cancel()
        await ws.close()


async def test_ocpp201_simulator_with_the_ocpp_librarys_central_system(sim_pki):
    result = await _dial_library_central(sim_pki, "ocpp201-charger", ocpp201_session, "ocpp2.0.1", "/ocpp/plc")
    assert result["written"] == ["Accepted", "Rejected", "UnknownVariable"]
    assert result["read"] == [("Accepted", "1"), ("Accepted", "CS-0001"), ("UnknownVariable", None)]
    assert (result["started"], result["stopped"]) == ("Accepted", "Accepted")
    seen = result["seen"]
    boot = seen[0]
    assert boot[0] == "BootNotification" and boot[1]["reason"] == "PowerUp"
    status = next(p for a, p in seen if a == "StatusNotification")
    assert (status["evse_id"], status["connector_id"]) == (1, 1)
    events = [p for a, p in seen if a == "TransactionEvent"]
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "Started" and kinds[-1] == "Ended" and "Updated" in kinds
    assert [e["seq_no"] for e in events] == list(range(len(events)))  # 0, 1, 2 ... per transaction
    assert len({e["transaction_info"]["transaction_id"] for e in events}) == 1
    assert events[0]["transaction_info"]["remote_start_id"] == 7 and events[0]["id_token"]["id_token"] == "TAG-1"
    updated = next(e for e in events if e["event_type"] == "Updated")
    measurands = [v["measurand"] for v in updated["meter_value"][0]["sampled_value"]]
    assert measurands == ["Energy.Active.Import.Register", "Power.Active.Import"]
    assert events[-1]["transaction_info"]["stopped_reason"] == "Remote"
