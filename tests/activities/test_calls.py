"""An external call heartbeats only once it has taken `HEARTBEAT_EVERY`, then at that pace
with the details as they are at each beat, and never after it ended."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from activities import calls
from activities.calls import heartbeating


async def test_a_long_call_heartbeats_its_current_details_and_stops_when_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calls, "HEARTBEAT_EVERY", 0.02)
    env, beats = ActivityEnvironment(), list[int]()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    progress = {"page": 0}
    three = asyncio.Event()

    async def long_call() -> None:
        async with heartbeating(lambda: progress["page"]):
            while len(beats) < 3:
                progress["page"] += 1
                await asyncio.sleep(0.01)  # a page of work
            three.set()

    await asyncio.wait_for(env.run(long_call), 10)
    assert three.is_set() and len(beats) >= 3
    assert beats == sorted(beats) and beats[0] >= 1
    count = len(beats)
    await asyncio.sleep(0.1)  # five beat periods: none may come after the call ended
    assert len(beats) == count


async def test_a_short_call_sends_no_heartbeat() -> None:
    env, beats = ActivityEnvironment(), list[tuple[object, ...]]()
    env.on_heartbeat = lambda *details: beats.append(details)

    async def short_call() -> str:
        async with heartbeating():
            return "done"

    assert await env.run(short_call) == "done"
    assert beats == []
