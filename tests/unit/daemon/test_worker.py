"""The kernel worker turns what pyroute2 raises raw into KernelError: an interface deleted
between two netlink calls (ENODEV) is a failed step, not a crash."""

import asyncio
from pathlib import Path

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from multiwan.daemon.worker import KernelWorker
from multiwan.kernel.errors import KernelError


def test_raw_netlink_errors_become_kernel_errors(tmp_path: Path) -> None:
    worker = KernelWorker(tmp_path)
    worker._kernel = object()  # type: ignore[assignment]  # no netlink handle needed

    def vanished(kernel: object) -> None:
        raise NetlinkError(19, "No such device")

    def out_of_descriptors(kernel: object) -> None:
        raise OSError(24, "Too many open files")

    async def main() -> None:
        with pytest.raises(KernelError, match=r"netlink: .*No such device"):
            await worker.call(vanished)
        with pytest.raises(KernelError, match="Too many open files"):
            await worker.call(out_of_descriptors)

    try:
        asyncio.run(main())
    finally:
        worker._kernel = None
        worker.close()
