"""One thread that owns the kernel handles (netlink, nftables); the event loop sends it
every blocking kernel call, so nothing blocks the loop and nothing races on a handle."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from multiwan.kernel.errors import RAW_KERNEL_ERRORS, KernelError
from multiwan.kernel.reconcile import Kernel

T = TypeVar("T")


class KernelWorker:
    def __init__(self, state_dir: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel")
        self._kernel: Kernel | None = None
        self._state_dir = state_dir

    async def call(self, work: Callable[[Kernel], T]) -> T:
        """Run `work` on the kernel thread. The kernel's refusals arrive as KernelError,
        also those pyroute2 raises raw (an interface deleted between two netlink calls:
        ENODEV), so callers treat them as a failed step and go on."""

        def run() -> T:
            if self._kernel is None:
                self._kernel = Kernel(self._state_dir)  # created on its own thread
            try:
                return work(self._kernel)
            except RAW_KERNEL_ERRORS as exc:
                what = str(exc) if isinstance(exc, OSError) else f"netlink: {exc}"
                raise KernelError(what) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def close(self) -> None:
        if self._kernel is not None:
            self._pool.submit(self._kernel.close).result()
        self._pool.shutdown()
