"""Control requests are checked before the engine sees them: every argument by name and type."""

import asyncio
import json
import stat
from pathlib import Path

import pytest

from multiwan.daemon import control
from multiwan.daemon.control import BadRequest, parse_request


def test_a_good_request_passes_as_it_is() -> None:
    line = b'{"version": 1, "command": "weight", "args": {"link": "isp1", "weight": 8}}'
    assert parse_request(line) == ("weight", {"link": "isp1", "weight": 8})
    assert parse_request(b'{"command": "status"}') == ("status", {})


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"not json", "malformed request"),
        (b'["status"]', "malformed request"),
        (b'{"command": 3}', "malformed request"),
        (b'{"command": "status", "version": 2}', "unsupported protocol version 2"),
        (b'{"command": "shutdown"}', "unknown command 'shutdown'"),
        (b'{"command": "weight", "args": {"link": "isp1"}}', "'weight' must be an integer"),
        (b'{"command": "weight", "args": {"link": "a", "weight": "8"}}', "must be an integer"),
        (b'{"command": "weight", "args": {"link": "a", "weight": true}}', "must be an integer"),
        (b'{"command": "link", "args": {"link": "isp1"}}', "'action' must be a text"),
        (b'{"command": "mode", "args": {"mode": ""}}', "'mode' must be a text"),
        (b'{"command": "mode", "args": ["balance"]}', "'args' must be an object"),
        (b'{"command": "log", "args": {"all": 1}}', "log: unexpected argument 'all'"),
    ],
)
def test_bad_requests_are_refused_with_what_is_expected(line: bytes, error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        parse_request(line)


def test_long_arguments_are_refused() -> None:
    with pytest.raises(BadRequest, match="1-256 characters"):
        parse_request(b'{"command": "mode", "args": {"mode": "' + b"m" * 300 + b'"}}')


def test_sessions_are_capped_and_idle_ones_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "IDLE_TIMEOUT", 0.3)
    monkeypatch.setattr(control, "MAX_SESSIONS", 2)
    path = control.socket_path(tmp_path)

    async def main() -> tuple[bytes, bytes, bytes]:
        server = asyncio.ensure_future(control.serve_control(tmp_path, None, lambda _: None))
        for _ in range(500):  # the socket appears once bound
            if path.exists():
                break
            await asyncio.sleep(0.01)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        first = await asyncio.open_unix_connection(str(path))
        second = await asyncio.open_unix_connection(str(path))
        await asyncio.sleep(0.05)
        third = await asyncio.open_unix_connection(str(path))
        refused = await third[0].readline()
        closed = await asyncio.wait_for(first[0].read(), 2)  # idle: closed by the daemon
        line = b'{"command": "status", "pad": "' + b"x" * 20000 + b'"}\n'
        fourth = await asyncio.open_unix_connection(str(path))
        fourth[1].write(line)
        too_large = await fourth[0].readline()
        for _, writer in (first, second, third, fourth):
            writer.close()
        server.cancel()
        return refused, closed, too_large

    refused, closed, too_large = asyncio.run(main())
    assert json.loads(refused)["error"] == "too many connections (at most 2)"
    assert closed == b""
    assert json.loads(too_large)["error"] == "request too large: at most 16384 bytes"
