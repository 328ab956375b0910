"""Supervision: a failing background task is logged once and counted, a failing loop is
restarted with backoff, and neither ends the daemon's TaskGroup."""

import asyncio
import logging
from pathlib import Path
from typing import cast

import pytest

from multiwan.config.schema import Config
from multiwan.daemon import run
from multiwan.daemon.effects import Answer, Effect, Log, ReadFacts
from multiwan.daemon.engine import Engine
from multiwan.daemon.events import Control, Reconcile, ReconcileFailed, Reload
from multiwan.daemon.executor import Executor
from multiwan.daemon.run import Daemon
from multiwan.daemon.worker import KernelWorker
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
    def __init__(self, stop: asyncio.Event) -> None:
        self.reconcile_error: str | None = "netlink: (19, 'No such device')"
        self.stop = stop

    def handle(self, event: object, now: object) -> list[Effect]:
        if isinstance(event, Control):
            raise KeyError("weight")  # a bug in a handler
        if isinstance(event, Reload):
            self.stop.set()
        self.reconcile_error = None  # the retried reconcile worked
        return []


def executor(daemon: Daemon, engine: object, worker: object = None) -> Executor:
    def no_config() -> Config:
        raise AssertionError("not read in these tests")

    return Executor(
        cast(Engine, engine), cast(KernelWorker, worker), Path("/nonexistent"), no_config,
        daemon.spawn, daemon.queue.put_nowait, lambda: None, daemon.failed,
    )  # fmt: skip


def test_ready_after_the_first_good_apply_watchdog_from_the_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []

    def notify(message: str) -> bool:
        sent.append(message)
        return True

    monkeypatch.setattr(run, "notify", notify)
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))
    engine = FakeEngine(daemon.stopping)
    daemon.executor = executor(daemon, engine)

    async def main() -> dict[str, object]:
        reply: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        events = (
            run.Heartbeat(), Control("weight", {}, reply), Control("weight", {}, reply),
            Reconcile(), run.Heartbeat(),
        )  # fmt: skip
        for event in (*events, Reload()):
            daemon.queue.put_nowait(event)
        await daemon._consume(engine)  # type: ignore[arg-type]
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


class FailingWorker:
    async def call(self, work: object) -> object:
        raise KernelError("netlink: (19, 'No such device')")


class Recorder:
    """An engine that asks for a kernel read, then an effect whose code fails, then a log
    line; and records the outcomes it is handed back."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def handle(self, event: object, now: object) -> list[Effect]:
        self.seen.append(event)
        if isinstance(event, Reconcile):
            broken = Answer(object(), {})  # type: ignore[arg-type]
            return [ReadFacts(("eth1",)), broken, Log(logging.INFO, "still here")]
        return []


def test_failed_effects_become_events_or_counted_errors_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))
    engine = Recorder()
    with caplog.at_level(logging.INFO):
        asyncio.run(executor(daemon, engine, FailingWorker()).run(Reconcile()))
    assert engine.seen == [Reconcile(), ReconcileFailed("netlink: (19, 'No such device')")]
    assert daemon.errors == {"effect Answer": 1}
    assert "still here" in caplog.text


def test_a_burst_of_sighup_reloads_once() -> None:
    daemon = Daemon(Path("/nonexistent.toml"), Path("/nonexistent"))
    for _ in range(5):
        daemon.request_reload()
    assert daemon.queue.qsize() == 1


def test_a_bad_metrics_listen_is_an_error_to_log_not_a_bug() -> None:
    with pytest.raises(OSError, match=r"cannot serve metrics on '127.0.0.1:http': invalid"):
        asyncio.run(Daemon._metrics("127.0.0.1:http", object()))  # type: ignore[arg-type]
