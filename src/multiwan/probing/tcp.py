"""TCP connect from one link. For link health a refused connection (RST) proves the path
works just as well as an accepted one; for service backends it is a failure."""

import asyncio
import socket
import time

from multiwan.probing.binding import LinkBinding, bound_socket, family_of
from multiwan.probing.result import ProbeResult, failure, os_error


async def tcp_connect(
    host: str, port: int, binding: LinkBinding | None, limit: float, refused_ok: bool
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    try:
        sock = bound_socket(binding, family_of(host), socket.SOCK_STREAM)
    except OSError as exc:
        return os_error(exc)
    with sock:
        started = time.monotonic()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), limit)
        except TimeoutError:
            return failure(f"timeout after {limit:g}s")
        except ConnectionRefusedError:
            if refused_ok:
                return ProbeResult(True, time.monotonic() - started)
            return failure("connection refused")
        except OSError as exc:
            return os_error(exc)
        return ProbeResult(True, time.monotonic() - started)
