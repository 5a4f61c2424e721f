"""Requests first: mail rests between messages while requests keep arriving, and only then."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from server.pacing import BackgroundPacer, Foreground
from server.web.keys import foreground_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def finishes_without_waiting(coroutine) -> bool:  # type: ignore[no-untyped-def]
    try:
        coroutine.send(None)
    except StopIteration:
        return True
    coroutine.close()
    return False


async def test_background_work_rests_only_while_requests_arrive() -> None:
    clock = Clock()
    foreground = Foreground(clock)
    pacer = BackgroundPacer(foreground, share=0.5)
    assert finishes_without_waiting(pacer.after_step(0.01))  # no request yet
    foreground.request_arrived()
    assert not finishes_without_waiting(pacer.after_step(0.01))
    clock.now += 1  # a second without requests: quiet again
    assert finishes_without_waiting(pacer.after_step(0.01))


async def test_a_rest_is_in_proportion_to_the_step_and_bounded() -> None:
    foreground = Foreground()
    foreground.request_arrived()
    pacer = BackgroundPacer(foreground, share=0.5, longest_pause=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pacer.after_step(0.03)  # half the loop: rests as long as it worked
    assert loop.time() - started >= 0.03
    foreground.request_arrived()
    started = loop.time()
    await asyncio.wait_for(pacer.after_step(60), 5)  # a huge step still rests at most 0.2 s
    assert 0.2 <= loop.time() - started < 5


async def test_every_request_marks_the_foreground(client: TestClient) -> None:
    foreground = client.server.app[foreground_key]
    await asyncio.sleep(0.1)
    assert not foreground.busy()
    assert (await client.get("/healthz")).status == 200
    assert foreground.busy()
