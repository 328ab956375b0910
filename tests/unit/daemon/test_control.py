"""Control requests are checked before the engine sees them: every argument by name and type."""

import pytest

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
