"""Supervision: a failing background task is logged once and counted, a failing loop is
restarted with backoff, and neither ends the daemon's TaskGroup."""

import asyncio
import logging
from pathlib import Path

import pytest

from multiwan.daemon import run
from multiwan.daemon.events import Control, Reconcile, Reload
from multiwan.daemon.run import Daemon
from multiwan.kernel.errors import KernelError


def test_failures_are_logged_counted_and_loops_restarted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(run, "BACKOFF_FIRST", 0.01)
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))
    starts: list[int] = []

    async def flaky() -> None:
        starts.append(len(starts))
        if len(starts) < 3:
            raise KernelError("netlink: (19, 'No such device')")
        daemon.stopping.set()

    async def broken() -> None:
        raise ValueError("a bug")

    async def main() -> None:
        async with asyncio.TaskGroup() as group:
            daemon.group = group
            daemon.spawn(broken(), name="hooks")
            daemon.keep(flaky, name="probe:isp1")
            await asyncio.wait_for(daemon.stopping.wait(), 5)

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert len(starts) == 3
    assert daemon.errors == {"hooks": 1, "probe": 2}
    assert "probe:isp1 failed: netlink: (19, 'No such device')" in caplog.text
    assert "probe:isp1 restarts in 0 s" in caplog.text
    assert "hooks failed: ValueError('a bug')" in caplog.text  # a bug keeps its traceback
    assert any(r.exc_info for r in caplog.records if "hooks failed" in r.getMessage())


class FakeEngine:
    generation = 0
    interfaces: dict[str, str] = {}  # noqa: RUF012

    def __init__(self, stop: asyncio.Event) -> None:
        self.reconcile_error: str | None = "netlink: (19, 'No such device')"
        self.stop = stop

    async def handle(self, event: object) -> None:
        if isinstance(event, Control):
            raise KeyError("weight")  # a bug in a handler
        if isinstance(event, Reload):
            self.stop.set()
        self.reconcile_error = None  # the retried reconcile worked


def test_ready_after_the_first_good_apply_watchdog_from_the_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []

    def notify(message: str) -> bool:
        sent.append(message)
        return True

    monkeypatch.setattr(run, "notify", notify)
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))

    async def main() -> dict[str, object]:
        reply: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        events = (
            run.Heartbeat(), Control("weight", {}, reply), Control("weight", {}, reply),
            Reconcile(), run.Heartbeat(),
        )  # fmt: skip
        for event in (*events, Reload()):
            daemon.queue.put_nowait(event)
        await daemon._consume(FakeEngine(daemon.stopping))  # type: ignore[arg-type]
        return reply.result()

    answer = asyncio.run(main())
    assert answer == {"ok": False, "error": "internal error: KeyError('weight')"}
    assert sent == [
        "WATCHDOG=1",
        "STATUS=not ready: netlink: (19, 'No such device')",
        "READY=1",
        "WATCHDOG=1",
    ]
    assert daemon.errors == {"event Control": 2}
    assert daemon.ready


def test_a_burst_of_sighup_reloads_once() -> None:
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))
    for _ in range(5):
        daemon.request_reload()
    assert daemon.queue.qsize() == 1


def test_a_bad_metrics_listen_is_an_error_to_log_not_a_bug() -> None:
    with pytest.raises(OSError, match=r"cannot serve metrics on '127.0.0.1:http': invalid"):
        asyncio.run(Daemon._metrics("127.0.0.1:http", object()))  # type: ignore[arg-type]
