"""HTTP(S) GET from one link with aiohttp; the connection's socket comes from
`bound_socket`, so the request egresses by the link whatever the routing rules say."""

import time
from typing import Any

import aiohttp

from multiwan.config.health import HttpTarget
from multiwan.probing.binding import LinkBinding, bound_socket
from multiwan.probing.result import ProbeResult, failure

#: The body is read (chunk after chunk) only this far when looking for `body_contains`.
MAX_BODY = 64 * 1024


async def http_get(target: HttpTarget, binding: LinkBinding | None, limit: float) -> ProbeResult:
    def socket_factory(addr_info: Any) -> Any:
        family, kind, proto, _, _ = addr_info
        return bound_socket(binding, family, kind, proto)

    connector = aiohttp.TCPConnector(
        socket_factory=socket_factory, force_close=True, ssl=target.verify_tls
    )
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=limit)
            ) as session,
            session.get(target.url, allow_redirects=False) as response,
        ):
            if response.status != target.expect_status:
                return failure(f"HTTP {response.status}, expected {target.expect_status}")
            if target.body_contains is not None:
                wanted, body = target.body_contains.encode(), b""
                while wanted not in body and len(body) < MAX_BODY:
                    chunk = await response.content.read(MAX_BODY - len(body))
                    if not chunk:
                        break
                    body += chunk
                if wanted not in body:
                    return failure(f"body lacks {target.body_contains!r}")
    except TimeoutError:
        return failure(f"timeout after {limit:g}s")
    except aiohttp.ClientError as exc:
        return failure(str(exc) or type(exc).__name__)
    except OSError as exc:
        return failure(exc.strerror or type(exc).__name__)
    return ProbeResult(True, time.monotonic() - started)
