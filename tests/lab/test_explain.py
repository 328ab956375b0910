"""`multiwan explain` against real traffic: the link it names is the link the connections
actually take, from config alone (no daemon: all links up) and from the running daemon's
link states after a failover, for the default policy and for a rule."""

import json

import pytest

from multiwan.lab.configs import lab_config, probe_health
from multiwan.lab.daemon import LabDaemon
from multiwan.lab.topology import Lab

pytestmark = pytest.mark.lab

RULE = '\n[[rules]]\nname = "tls"\nproto = "tcp"\ndport = [443]\nvia = "isp3"\n'


def _explained(lab: Lab, config: str, port: int) -> dict[str, object]:
    done = lab.multiwan(
        "explain", "10.10.0.2", lab.server_ip, "tcp", str(port), "--iif", "lan0", "--json",
        config=config,
    )  # fmt: skip
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _taken(lab: Lab, port: int) -> set[str]:
    """The links that carried 20 new connections from the client to `port`."""
    result = lab.flows(count=20, port=port)
    assert result.failed == 0, result
    return {isp for isp, n in result.per_isp.items() if n}


def test_explain_names_the_link_connections_take(lab3: Lab) -> None:
    config = lab_config(lab3, strategy="failover", health=probe_health(lab3), extra=RULE)
    lab3.multiwan("apply", config=config)
    answer = _explained(lab3, config, 80)
    assert answer["source"] == "no daemon: all links up"
    assert answer["link"] == "isp1", answer
    assert _taken(lab3, 80) == {"isp1"}
    # The router's own socket bound to isp2's address: pinned to isp2, as explain says.
    bound = lab3.isps[1].router_address
    done = lab3.multiwan("explain", bound, lab3.server_ip, "tcp", "80", "--json", config=config)
    assert json.loads(done.stdout)["link"] == "isp2"
    result = lab3.flows(count=10, client=lab3.router, bind=bound)
    assert (result.failed, result.per_isp["isp2"]) == (0, 10), result

    with LabDaemon(lab3, config) as daemon:
        lab3.isps[0].blackhole()
        daemon.wait_log(r"link isp1: up -> down")
        answer = _explained(lab3, config, 80)
        assert answer["source"] == "link states from the running daemon"
        assert answer["link"] == "isp2", answer
        assert "  isp1 [down, tier 1]: down: takes no new connections" in answer["reasons"]  # type: ignore[operator]
        assert _taken(lab3, 80) == {"isp2"}

        answer = _explained(lab3, config, 443)
        assert answer["link"] == "isp3", answer
        assert "rules[0] ('tls') matches first: via isp3" in answer["reasons"]  # type: ignore[operator]
        assert _taken(lab3, 443) == {"isp3"}
