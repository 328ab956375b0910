"""UDP check: send one datagram from a connected socket, so the kernel reports an ICMP port
unreachable as ECONNREFUSED; a reply (containing `expect`, if given) is a pass, silence a
pass only when no reply is required."""

import asyncio
import socket
import time

from multiwan.config.health import UdpTarget
from multiwan.probing.binding import LinkBinding, bound_socket, family_of
from multiwan.probing.result import ProbeResult, failure, os_error


async def udp_exchange(target: UdpTarget, binding: LinkBinding | None, limit: float) -> ProbeResult:
    loop = asyncio.get_running_loop()
    try:
        sock = bound_socket(binding, family_of(target.host), socket.SOCK_DGRAM)
    except OSError as exc:
        return os_error(exc)
    with sock:
        started = time.monotonic()
        try:
            await loop.sock_connect(sock, (target.host, target.port))
            await loop.sock_sendall(sock, target.data)
            reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), limit)
        except TimeoutError:
            if target.require_reply or target.expect is not None:
                return failure(f"no reply after {limit:g}s")
            return ProbeResult(True)  # silent, and no port unreachable: alive
        except ConnectionRefusedError:
            return failure("port unreachable")
        except OSError as exc:
            return os_error(exc)
    if target.expect is not None and target.expect.encode() not in reply:
        text = reply[:40].decode(errors="replace")
        return failure(f"reply {text!r} does not contain {target.expect!r}")
    return ProbeResult(True, time.monotonic() - started)
