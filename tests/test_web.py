"""kesu's own HTTP listener: channels add routes; one address is one listener, whichever
channels share it, and a port taken by someone else is a one-line refusal."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.channels.base import ChannelError
from bot.web import WebServer


async def answer(text: str) -> web.Response:
    return web.Response(text=text)


async def test_two_channels_on_one_address_share_one_listener() -> None:
    server = WebServer()

    async def telegram(request: web.Request) -> web.Response:
        return await answer("telegram")

    async def slack(request: web.Request) -> web.Response:
        return await answer("slack")

    server.post("127.0.0.1", 0, "/telegram", telegram)
    server.post("127.0.0.1", 0, "/slack/events", slack)
    await server.start()
    try:
        assert len(server.ports) == 1
        async with aiohttp.ClientSession() as http:
            for path in ("/telegram", "/slack/events"):
                async with http.post(server.url("127.0.0.1", 0, path)) as response:
                    assert (response.status, await response.text()) == (200, path.split("/")[1])
            async with http.get(server.url("127.0.0.1", 0, "/telegram")) as response:
                assert response.status == 405  # POST only
    finally:
        await server.stop()


async def test_a_port_in_use_is_a_one_line_refusal() -> None:
    first, second = WebServer(), WebServer()

    async def ok(request: web.Request) -> web.Response:
        return await answer("ok")

    first.post("127.0.0.1", 0, "/telegram", ok)
    await first.start()
    try:
        taken = first.ports[("127.0.0.1", 0)]
        second.post("127.0.0.1", taken, "/telegram", ok)
        with pytest.raises(ChannelError, match=f"cannot listen on 127.0.0.1:{taken}"):
            await second.start()
    finally:
        await second.stop()
        await first.stop()
