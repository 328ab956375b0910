"""SMTP check: connect, expect a `220` greeting, say QUIT (so the server logs no abort)."""

import asyncio
import time

from multiwan.probing.result import ProbeResult, failure


async def smtp_greeting(host: str, port: int, limit: float) -> ProbeResult:
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                banner = await reader.readline()
                if not banner.startswith(b"220"):
                    text = banner.decode(errors="replace").strip() or "nothing"
                    return failure(f"SMTP greeting {text!r}, expected 220")
                writer.write(b"QUIT\r\n")
                await writer.drain()
            finally:
                writer.close()
    except TimeoutError:
        return failure(f"timeout after {limit:g}s")
    except ConnectionRefusedError:
        return failure("connection refused")
    except OSError as exc:
        return failure(exc.strerror or type(exc).__name__)
    return ProbeResult(True, time.monotonic() - started)
