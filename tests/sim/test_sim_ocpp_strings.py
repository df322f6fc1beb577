"""The shipped charger's MeterValues carry sampledValue.value as a string, as
OCPP 1.6 requires, while the simulator's state keeps counting in numbers."""

from __future__ import annotations

import random

from wsctl.core.sim import Sim
from wsctl.files.profiles import load_profile

T0 = 1_700_000_000.0


def test_meter_values_are_strings_and_count_while_charging():
    profile = load_profile("ocpp16-charger")
    sim = Sim(profile, rng=random.Random(1), now=T0)
    # a running session (since issue 11 `in_transaction` gates MeterValues: none while idle)
    sim.state.update(in_transaction=True, connector_status="Charging", transaction_id=1001, power_w=11000.0)
    meter = next(e for e in sim.tick(T0 + 10) if e.event.key == "meter")
    sampled = meter.payload["meterValue"][0]["sampledValue"]
    assert [(s["measurand"], s["value"]) for s in sampled] == [
        ("Energy.Active.Import.Register", "30"),
        ("Power.Active.Import", "11000.0"),
    ]
    assert sim.state["energy_wh"] == 30 and isinstance(sim.state["energy_wh"], int)
    assert meter.payload["transactionId"] == 1001  # an integer in OCPP 1.6: no filter
