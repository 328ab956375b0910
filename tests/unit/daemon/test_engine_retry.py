"""A failed reconcile is kept for `status` and retried with backoff (it never was)."""

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from multiwan.config.schema import Config
from multiwan.daemon.engine import Engine
from multiwan.kernel.errors import KernelError

CONFIG = Config.model_validate(
    {
        "default_policy": "all",
        "links": {"a": {"interface": "eth1"}},
        "policies": {"all": {"links": ["a"]}},
    }
)


class FailingWorker:
    async def call(self, work: object) -> object:
        raise KernelError("netlink: (19, 'No such device')")


def test_a_failed_reconcile_is_retried_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[Coroutine[Any, Any, None]] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)

    def spawn(coro: Coroutine[Any, Any, None], name: str) -> None:
        assert name == "reconcile"
        spawned.append(coro)

    engine = Engine(CONFIG, FailingWorker(), tmp_path, lambda: CONFIG, spawn)  # type: ignore[arg-type]

    async def main() -> None:
        await engine.start()
        for _ in range(3):
            await spawned.pop()

    asyncio.run(main())
    assert engine.reconcile_error == "netlink: (19, 'No such device')"
    assert engine.reconcile_failures == 4
    delay = CONFIG.daemon.reconcile_delay
    assert slept == [delay * 2, delay * 4, delay * 8]
    assert len(spawned) == 1  # the next retry is already scheduled
    spawned.pop().close()
