"""One ISP of the lab world and the faults a test can inject into it."""

from dataclasses import dataclass

from multiwan.lab.netns import Netns


@dataclass
class Isp:
    """One ISP: its namespace, how the router reaches it, and the address it NATs to."""

    index: int
    ns: Netns
    router_if: str
    gateway: str
    router_address: str
    public: str
    gateway6: str | None = None
    public6: str | None = None
    router_address6: str | None = None

    @property
    def name(self) -> str:
        return f"isp{self.index}"

    def _fault(self, rule: str) -> None:
        self.restore()
        self.ns.run(
            "nft", "-f", "-",
            input=f"table inet fault {{\n chain forward {{ type filter hook forward priority -10;"
            f" {rule}; }}\n chain input {{ type filter hook input priority -10; {rule}; }}\n}}\n",
        )  # fmt: skip

    def blackhole(self) -> None:
        """Forward and answer nothing while every link stays up (modem alive, internet dead)."""
        self._fault("drop")

    def drop_pings(self) -> None:
        """Drop IPv4 echo requests only: ICMP health checks fail, TCP and UDP still pass."""
        self._fault("icmp type echo-request drop")

    def loss(self, percent: int, both_ways: bool = False) -> None:
        """Drop `percent` % of the packets the router sends through this ISP, at random
        (`both_ways`: also of those the ISP sends back)."""
        rule = f'iifname "down0" numgen random mod 100 < {percent} drop'
        if both_ways:
            rule += f'; oifname "down0" numgen random mod 100 < {percent} drop'
        self._fault(rule)

    def shape(self, mbit: int) -> None:
        """Limit what this ISP sends towards the router (the router's download) to `mbit`
        Mbit/s with tbf, as a line of that speed would; again to change it. The burst is
        64 kB at every rate: with a burst of rate x 500 B, changing 40 -> 10 Mbit/s under 12
        downloads stopped every flow through it (seen in the lab, not explained)."""
        self.ns.run("tc", "qdisc", "replace", "dev", "down0", "root", "tbf", "rate", f"{mbit}mbit",
                    "burst", "64kb", "latency", "50ms")  # fmt: skip

    def restore(self) -> None:
        self.ns.run("nft", "delete table inet fault", check=False)

    def forward_port(self, port: int, to: str, to_port: int) -> None:
        """DNAT `public:port` to `to:to_port` (a service on the router behind this ISP)."""
        self.ns.run(
            "nft", "-f", "-",
            input="table ip portmap {\n chain pre { type nat hook prerouting priority dstnat;"
            f" ip daddr {self.public} tcp dport {port} dnat to {to}:{to_port}; }}\n}}\n",
        )  # fmt: skip

    def carrier_down(self) -> None:
        """Take the ISP's side of the cable down: the router sees NO-CARRIER."""
        self.ns.run("ip", "link", "set", "down0", "down")

    def carrier_up(self) -> None:
        self.ns.run("ip", "link", "set", "down0", "up")
