"""Delete conntrack entries: those pinned to a dead link, so their applications reconnect at
once through live links instead of waiting for their own timeouts, and those DNATed to a
failed service backend (when the service asks for it).

`conntrack -D` with a filter works in the kernel (~15 ms for one link; FIELD-NOTES), far
cheaper than dumping the table through netlink.
"""

import asyncio
import contextlib
import re

from multiwan.kernel.errors import KernelError


async def _conntrack(*args: str) -> tuple[int, bytes, str]:
    """Run the conntrack tool: exit status, output, and its messages."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "conntrack", *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        raise KernelError(f"cannot run conntrack (install conntrack): {exc}") from exc
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:  # timed out: a dump must not go on alone
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    return proc.returncode or 0, out, err.decode(errors="replace")


async def _delete(*selector: str) -> int:
    """`conntrack -D` with a kernel-side filter; how many entries it deleted."""
    returncode, _, text = await _conntrack("-D", *selector)
    # conntrack exits 1 when nothing matched; its summary line counts what was deleted.
    for line in text.splitlines():
        if "flow entries have been deleted" in line:
            return int(line.split()[-6])
    if returncode not in (0, 1):
        raise KernelError(f"conntrack -D {' '.join(selector)} failed: {text.strip()}")
    return 0


async def flush_link_connections(mark: int, mask: int) -> int:
    """Delete every conntrack entry whose mark (within multiwan's `mask`) is `mark`;
    returns how many."""
    return await _delete("-m", f"{mark:#x}/{mask:#x}")


async def flush_backend_connections(address: str, protocol: str, port: int | None) -> int:
    """Delete the connections a service DNATed to this backend (the reply source)."""
    selector = ["-r", address, "-p", protocol]
    if port:
        selector += ["--reply-port-src", str(port)]
    return await _delete(*selector)


MARK_FIELD = re.compile(rb"\bmark=(\d+)")


async def connections_by_mark(mask: int) -> dict[int, int]:
    """Tracked connections per multiwan mark (both families); one dump per family, read
    for `status` outside the engine and with a timeout (a dump costs time proportional to
    the table: seconds for a large one)."""
    counts: dict[int, int] = {}
    for family in ("ipv4", "ipv6"):
        _, out, _ = await _conntrack("-L", "-f", family)
        for match in MARK_FIELD.finditer(out):
            mark = int(match[1]) & mask
            if mark:
                counts[mark] = counts.get(mark, 0) + 1
    return counts
