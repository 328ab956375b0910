"""HTTP `body_contains` reads the body chunk after chunk (up to MAX_BODY), not only the
first chunk that arrived. Served on loopback by a local aiohttp server."""

import asyncio

from aiohttp import web

from multiwan.config.health import HttpTarget
from multiwan.probing.http import MAX_BODY, http_get


async def slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for part in (b"x" * 1000, b"y" * 1000, b"the marker"):
        await response.write(part)
        await asyncio.sleep(0.05)
    await response.write_eof()
    return response


async def check(needle: str) -> tuple[bool, str | None]:
    app = web.Application()
    app.router.add_get("/", slow_body)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        target = HttpTarget(kind="http", url=f"http://127.0.0.1:{port}/", body_contains=needle)
        result = await http_get(target, None, 5.0)
    finally:
        await runner.cleanup()
    return result.ok, result.error


def test_body_contains_reads_past_the_first_chunk() -> None:
    assert MAX_BODY > 2100
    assert asyncio.run(check("the marker")) == (True, None)
    assert asyncio.run(check("absent")) == (False, "body lacks 'absent'")
