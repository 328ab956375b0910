"""`apply --confirm SECONDS` without a daemon, and `multiwan confirm`: the change is undone
unless confirmed in time, even when the command that made it is gone (an SSH session cut by
the very change).

The undo runs in a watchdog process of its own session (setsid), started before the CLI
returns: it outlives the CLI, its terminal and the SSH connection. Files in the state
directory carry the rest: `applied.toml` is the config of the last change that stands
(written by a plain `apply` and by `confirm`), `pending.json` the change awaiting
confirmation. Whoever renames `pending.json` first wins, so a confirmation at the last
moment and the revert never both happen. Without `applied.toml` the revert is a flush.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from multiwan.kernel.journal import write_atomic

APPLIED = "applied.toml"
PENDING = "pending.json"
POLL = 0.2  # seconds between the watchdog's looks at the pending file


def applied_path(state_dir: Path) -> Path:
    return state_dir / APPLIED


def record_applied(state_dir: Path, config_text: str) -> None:
    """The config of a change that stands: what a later unconfirmed change returns to."""
    write_atomic(applied_path(state_dir), config_text)


def pending(state_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((state_dir / PENDING).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _claim(state_dir: Path, token: str, why: str) -> dict[str, object] | None:
    """Take the pending change with `token` (rename first, then read): None when another
    (confirm or revert) took it, or it is another change's."""
    claimed = state_dir / f".{PENDING}.{why}.{os.getpid()}"
    try:
        os.rename(state_dir / PENDING, claimed)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(claimed.read_text())
    finally:
        claimed.unlink(missing_ok=True)
    if data.get("token") != token:  # not ours: put it back
        write_atomic(state_dir / PENDING, json.dumps(data))
        return None
    return dict(data)


def begin(state_dir: Path, config_text: str, seconds: int, config_path: Path) -> str:
    """Record the change (before it is applied) and start its watchdog; the token."""
    token = os.urandom(8).hex()
    previous = applied_path(state_dir)
    record = {
        "token": token,
        "deadline": time.time() + seconds,
        "config": config_text,
        "previous": previous.read_text() if previous.exists() else None,
        "config_path": str(config_path),
    }
    write_atomic(state_dir / PENDING, json.dumps(record))
    try:
        subprocess.Popen(
            [sys.executable, "-m", "multiwan.cli.confirm", str(state_dir), token],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError:
        cancel(state_dir, token)  # no watchdog, no change: nothing may await confirmation
        raise
    return token


def confirm(state_dir: Path) -> bool:
    """Keep the pending change; False when none awaits confirmation."""
    found = pending(state_dir)
    if found is None:
        return False
    data = _claim(state_dir, str(found.get("token")), "confirm")
    if data is None:
        return False
    record_applied(state_dir, str(data["config"]))
    return True


def cancel(state_dir: Path, token: str) -> None:
    """The change failed before anything stayed applied: nothing awaits confirmation."""
    _claim(state_dir, token, "cancel")


def _revert(state_dir: Path, previous: str | None) -> str:
    """Put back the previous config (or flush when there was none); what was done."""
    from multiwan.config.load import load_config_text
    from multiwan.kernel.reconcile import Kernel
    from multiwan.operations import flush, intent

    kernel = Kernel(state_dir)
    try:
        if previous is None:
            flush(kernel)
            return "flushed (no earlier applied config)"
        found = intent(load_config_text(previous, str(applied_path(state_dir))), kernel)
        kernel.execute(found.plan)
        return "previous config applied again"
    finally:
        kernel.close()


def watch(state_dir: Path, token: str) -> None:
    """Wait for the deadline; revert unless the change was confirmed (or superseded)."""
    import logging

    from multiwan.daemon.logs import JOURNAL_SOCKET, JournalHandler

    handler: logging.Handler = logging.StreamHandler(sys.stderr)
    if JOURNAL_SOCKET.is_socket():
        handler = JournalHandler(handler)
    log = logging.getLogger("multiwan.confirm")
    log.addHandler(handler)
    while True:
        found = pending(state_dir)
        if found is None or found.get("token") != token:
            return  # confirmed, or the state directory is gone
        if time.time() >= float(found["deadline"]):  # type: ignore[arg-type]
            break
        time.sleep(POLL)
    data = _claim(state_dir, token, "revert")
    if data is None:
        return
    try:
        done = _revert(state_dir, data["previous"])  # type: ignore[arg-type]
    except Exception as exc:
        log.error("change not confirmed, and reverting it failed: %s", exc)
        raise
    log.warning("change not confirmed in time: %s", done)


if __name__ == "__main__":
    watch(Path(sys.argv[1]), sys.argv[2])
