"""One peer cannot freeze the simulator, and what `serve` would fail on is found
when the profile loads (review of the profile layer, findings 3, 4, 6, 7, 9, 11).

Real servers on port 0 with mutual TLS (the `start_sim` fixture of
test_sim_serve); every wait is bounded by `trio.fail_after`.  The timing
assertions allow a hundred times the new cost and a tenth of the old one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_profiles import CUSTOM, JSONRPC, TEXT, load
from test_sim_serve import rpc, start_sim  # noqa: F401 - start_sim is a fixture

import wsctl
from wsctl.core.errors import DeviceError, InvalidInput, Timeout
from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request
from wsctl.core.profile.model import Faults
from wsctl.core.profile.regex_guard import LINE_LIMIT
from wsctl.core.profile.template import render_text
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.net.sim_link import MAX_DELAYED

TWICE = TEXT.replace(
    "[events.meas]",
    """[commands.window]
name = "WIN"
request = "WIN {{params.lo}} {{params.lo}} {{params.a-b}},{{params.a_b}}"
[commands.window.params.lo]
type = "integer"
[commands.window.params.a-b]
type = "string"
[commands.window.params.a_b]
type = "string"
[events.meas]""",
)


def _elapsed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def test_reading_a_long_text_request_takes_linear_time():
    """`VOLT a` + spaces + `x`: the old `(.+?)\\s*$` reader was quadratic (5 s at 32 000)."""
    codec = DeviceCodec(load_profile("psu"))
    line = "VOLT a" + " " * (LINE_LIMIT - 8) + "x"
    bad, seconds = _elapsed(codec.parse, line)
    assert isinstance(bad, BadRequest) and bad.kind == "invalid_params"
    assert seconds < 0.05
    bad, seconds = _elapsed(codec.parse, "VOLT a" + " " * 60_000 + "x")
    assert isinstance(bad, BadRequest) and bad.kind == "parse" and "at most 4096" in bad.reason
    assert seconds < 0.05


def test_a_parameter_pattern_that_backtracks_exponentially_is_refused_when_the_profile_loads():
    evil = TEXT.replace(
        "[commands.read]",
        '[commands.show]\nname = "SHOW"\nrequest = "SHOW {{params.text}}"\n'
        '[commands.show.params.text]\ntype = "string"\npattern = "(a|aa)+"\n[commands.read]',
    )
    with pytest.raises(InvalidInput) as refused:
        load(evil)
    assert refused.value.exit_code == 8
    assert "commands.show.params.text.pattern" in str(refused.value) and "backtracking" in str(refused.value)
    nested = evil.replace('"(a|aa)+"', '"(a+)+"')
    with pytest.raises(InvalidInput, match="a repeat inside a repeated group"):
        load(nested)


def test_a_parameter_named_twice_or_names_that_look_alike_read_back():
    """Duplicate group names (`p_lo` twice, `a-b` and `a_b`) failed only when `serve` built its readers."""
    codec = DeviceCodec(load(TWICE))
    read = codec.parse("WIN 3 3 x,y")
    assert isinstance(read, Request) and read.params == {"lo": 3, "a-b": "x", "a_b": "y"}
    assert isinstance(codec.parse("WIN 3 4 x,y"), BadRequest)  # the same parameter, two values


def test_placeholders_side_by_side_are_a_load_error():
    bad = TEXT.replace('request = "{{name}} {{params.value}}"', 'request = "{{name}} {{params.value}}{{now}}"')
    with pytest.raises(InvalidInput, match=r"commands\.volt\.request: .*side by side"):
        load(bad)


@settings(max_examples=40, deadline=None)
@given(
    lo=st.integers(-(10**6), 10**6),
    a=st.text(st.characters(blacklist_characters=", \r\n", blacklist_categories=("Cs", "Zs", "Cc")), min_size=1),
    b=st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs", "Cc")), min_size=1),
)
def test_what_the_client_writes_the_device_reads_back(lo, a, b):
    b = b.strip() or "b"
    codec = DeviceCodec(load(TWICE))
    command = codec.profile.commands["window"]
    line = render_text(command.request, {"params": {"lo": lo, "a-b": a, "a_b": b}})
    read = codec.parse(line)
    assert isinstance(read, Request) and read.params == {"lo": lo, "a-b": a, "a_b": b}


async def test_a_long_request_from_an_observer_does_not_stall_the_server(start_sim, sim_pki):  # noqa: F811
    _, server, _ = await start_sim(TEXT)
    with trio.fail_after(10):
        async with (
            open_device(server.url, **sim_pki.kw(sim_pki.bob)) as bob,
            open_device(server.url, **sim_pki.kw(sim_pki.alice)) as alice,
        ):
            await bob.send("VOLT a" + " " * 60_000 + "x")
            assert (await bob.receive(timeout=5)).startswith("ERR 400 ")
            start = trio.current_time()
            await alice.send("READ?")
            assert await alice.receive(timeout=5) == "VOLT 0.0"
            assert trio.current_time() - start < 1


async def test_a_deeply_nested_array_parameter_is_the_protocols_error_not_1011(start_sim, sim_pki):  # noqa: F811
    """RecursionError escaped `Param.parse`: the handler failed and the peer got close 1011."""
    arrays = TEXT.replace(
        "[events.meas]",
        '[commands.preset]\nname = "PRES"\nrequest = "PRES {{params.list}}"\n'
        '[commands.preset.params.list]\ntype = "array"\n[sim.commands.preset]\nreply = "OK"\n[events.meas]',
    )
    _, server, _ = await start_sim(arrays)
    with trio.fail_after(10):
        async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
            await dev.send("PRES " + "[" * 3000)
            assert (await dev.receive(timeout=5)).startswith("ERR 422 ")
            await dev.send("PRES [1,2]")
            assert await dev.receive(timeout=5) == "OK"


async def test_delayed_replies_are_bounded_per_connection_and_end_with_it(start_sim, sim_pki):  # noqa: F811
    """They piled up without bound and slept on for an hour after the peer left."""
    sim, server, _ = await start_sim(JSONRPC, faults=Faults(reply_delay=3600))

    def delayed() -> int:
        return sum(1 for task in sim._nursery.child_tasks if task.name.endswith("_later"))

    async def flood(dev, count: int) -> None:
        for rid in range(count):
            await dev.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "belt.status"}))

    with trio.fail_after(20):
        async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
            await flood(dev, 10)
            while delayed() < 10:
                await trio.sleep(0.01)
        while delayed():
            await trio.sleep(0.01)  # the peer left: nothing waits an hour for it
        async with open_device(server.url, **sim_pki.kw(sim_pki.alice)) as dev:
            await flood(dev, MAX_DELAYED + 20)
            await trio.sleep(0.5)
            assert delayed() == MAX_DELAYED  # past that, the reader waits each delay out itself


def test_delays_are_bounded_like_timeouts():
    with pytest.raises(InvalidInput, match=r"sim\.commands\.slow\.delay: must be between 0 and 86400"):
        load(JSONRPC.replace("delay = 0.5", "delay = 1e15"))
    with pytest.raises(InvalidInput, match=r"sim\.faults\.reply_delay: must be between 0 and 86400"):
        load(JSONRPC + "[sim.faults]\nreply_delay = 1e15\n")


async def test_a_device_error_without_framing_errors_is_a_device_error_not_a_refusal(start_sim, sim_pki):  # noqa: F811
    """All kinds had the code "error": every device error was read as not_authorized (exit 9)."""
    sim_part = "\n[sim.commands.move]\nreply = { moved = true }\n"
    _, server, _ = await start_sim(CUSTOM + sim_part, faults=Faults(error_reply_probability=1.0))
    profile = load(CUSTOM)
    with trio.fail_after(10):
        async with open_device(server.url, profile=profile, **sim_pki.kw(sim_pki.alice)) as dev:
            with pytest.raises(DeviceError) as failed:
                await dev.call("move", x=1)
    assert failed.value.exit_code == 7 and "injected fault" in str(failed.value)


EVIL_IDENTIFY = (
    (Path(wsctl.__file__).parent / "profiles" / "psu.toml")
    .read_text()
    .replace('reply = "ACME,PSU-3005,SN000123,2.1.0"', 'reply = "#EVT ' + "a" * 40_000 + '\\nb"')
)

DISPLAY = (
    (Path(wsctl.__file__).parent / "profiles" / "psu.toml").read_text()
    + """
[commands.display]
name = "DISP:TEXT"
request = "DISP:TEXT {{params.text}}"
roles = ["observer+"]
[commands.display.params.text]
type = "string"
[sim.commands.display]
reply = "OK"
"""
)


async def test_a_device_line_the_shipped_psu_regexes_backtracked_on_is_read_at_once(start_sim, sim_pki):  # noqa: F811
    """`#EVT aaa…\\nb`: the old `^#EVT (?P<name>\\S+) ?(?P<payload>.*)$` took 7 s of CPU past `--timeout 2`."""
    _, server, _ = await start_sim(EVIL_IDENTIFY)
    with trio.fail_after(4):
        async with open_device(server.url, profile=load_profile("psu"), **sim_pki.kw(sim_pki.alice)) as dev:
            with pytest.raises(Timeout):  # the line is an event, not the reply
                await dev.call("identify", timeout=1)


async def test_a_separator_or_line_break_in_a_text_parameter_is_refused_before_sending(start_sim, sim_pki):  # noqa: F811
    """`text=hello;OUTP ON` ran OUTP ON on the device: a command no role or danger check saw."""
    _, server, records = await start_sim(DISPLAY)
    with trio.fail_after(10):
        async with open_device(server.url, profile=load(DISPLAY), **sim_pki.kw(sim_pki.bob)) as dev:
            for smuggled in ("hello;OUTP ON", "hello\nOUTP ON", "hello\r\n*RST", "hello\r"):
                with pytest.raises(InvalidInput) as refused:
                    await dev.call("display", text=smuggled)
                assert refused.value.exit_code == 8 and "another command" in str(refused.value)
            assert await dev.call("display", text="hello world") == "OK"
    assert [(r["command"], r["params"], r["result"]) for r in records] == [("display", {"text": "hello world"}, "ok")]
