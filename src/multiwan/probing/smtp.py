"""SMTP check: connect, expect a `220` greeting, say QUIT (so the server logs no abort).
From a link, the connection leaves by it (the socket of `bound_socket`), as TCP checks do."""

import asyncio
import socket
import time

from multiwan.probing.binding import LinkBinding, bound_socket, family_of
from multiwan.probing.result import ProbeResult, failure


async def smtp_greeting(
    host: str, port: int, limit: float, binding: LinkBinding | None = None
) -> ProbeResult:
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        sock = bound_socket(binding, family_of(host), socket.SOCK_STREAM)
    except OSError as exc:
        return failure(exc.strerror or type(exc).__name__)
    try:
        async with asyncio.timeout(limit):
            await loop.sock_connect(sock, (host, port))
            reader, writer = await asyncio.open_connection(sock=sock)
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
    finally:
        sock.close()  # a no-op once the writer closed it
    return ProbeResult(True, time.monotonic() - started)
