"""Health targets read as the probes use them: DNS names and expected answers by dnspython."""

import dns.message
import dns.rrset
import pytest

from multiwan.config.health import DnsTarget


def dns_target(**fields: str) -> DnsTarget:
    return DnsTarget.model_validate({"kind": "dns", "server": "192.0.2.53", **fields})


@pytest.mark.parametrize("query", ["a..b", f"{'x' * 64}.example", "a." * 130, "a\\", ""])
def test_names_dnspython_cannot_query_are_refused(query: str) -> None:
    with pytest.raises(ValueError, match="expected a DNS name"):
        dns_target(query=query)


@pytest.mark.parametrize(
    ("rdtype", "expect", "answer"),
    [
        ("A", "192.0.2.1", "192.0.2.1"),
        ("AAAA", "2001:DB8::1", "2001:db8::1"),
        ("TXT", "ok", '"ok"'),
        ("NS", "ns1.example.com", "ns1.example.com."),
        ("MX", "10 mx.example.com", "10 mx.example.com."),
    ],
)
def test_expect_is_kept_as_answers_are_compared(rdtype: str, expect: str, answer: str) -> None:
    """The probe compares `expect` with each answer's text as dnspython renders it."""
    target = dns_target(query="example.com", rdtype=rdtype, expect=expect)
    response = dns.message.make_response(dns.message.make_query("example.com", rdtype))
    response.answer.append(dns.rrset.from_text("example.com.", 60, "IN", rdtype, answer))
    received = dns.message.from_wire(response.to_wire())
    assert target.expect in {item.to_text() for rrset in received.answer for item in rrset}


@pytest.mark.parametrize(
    ("rdtype", "expect"),
    [("A", "192.0.2"), ("A", "2001:db8::1"), ("AAAA", "fe80::1%eth0"), ("MX", "mx.example.com")],
)
def test_expect_that_no_answer_could_match_is_refused(rdtype: str, expect: str) -> None:
    with pytest.raises(ValueError, match=f"for rdtype '{rdtype}'"):
        dns_target(query="example.com", rdtype=rdtype, expect=expect)
