"""Scenario files travel between teams like profiles: whatever one holds, reading
and checking it returns or raises `InvalidInput` in one line, never another
exception.  Same bounded, derandomized fuzzing as tests/core/test_fuzz_parsers.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st
from test_fuzz_parsers import FUZZ, _loads_or_refuses, mutated, toml_text

from wsctl.core.scenario.format import check_against_profile, check_variables, parse_scenario
from wsctl.files.profiles import load_profile

PACKS = Path(__file__).resolve().parents[2] / "wsctl" / "scenarios"
SHIPPED = [tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(PACKS.glob("*.toml"))]
PROFILES = {name: load_profile(name) for name in ("conveyor", "ocpp16-charger", "ocpp201-charger")}


def _read_and_check(text: str):
    scenario = parse_scenario(text, "fuzz.toml")
    check_variables(scenario, set())
    if scenario.profile in PROFILES:
        check_against_profile(scenario, PROFILES[scenario.profile])
    return scenario


@FUZZ
@given(st.sampled_from(SHIPPED).flatmap(mutated))
@example(
    {"format": "wsctl-scenario/1", "scenario": {"id": "x"}, "cases": [{"name": "a", "steps": [{"sleep": 10**400}]}]}
)
@example(
    {
        "format": "wsctl-scenario/1",
        "scenario": {"id": "x"},
        "cases": [{"name": "a", "steps": [{"send": "x", "expect": {"/a": {"min": float("nan")}}}]}],
    }
)
def test_scenario_reader_returns_or_refuses_in_one_line(doc):
    _loads_or_refuses(_read_and_check, toml_text(doc))
