"""IP addresses and networks as the kernel takes them, normalised.

Python's ipaddress accepts an IPv6 scope id (`fe80::1%eth1`, also inside a network such as
`fe80::%x/64`). Routes, rules, nft and the probes' sockets take none: the interface is always
the link's (or the service's routing decides it), and the text would reach the nft script
verbatim. So every address field of the config is read here, and a scope id is refused.
"""

import ipaddress
from typing import Annotated

from pydantic import AfterValidator


def _scope_free(value: str) -> None:
    if "%" in value:
        raise ValueError(f"IPv6 scope ids ('%...') are not taken here, got {value!r}")


def ip_address(value: str, version: int | None = None) -> str:
    """`value` as a normalised address, of IP `version` when given."""
    _scope_free(value)
    address = ipaddress.ip_address(value)
    if version is not None and address.version != version:
        raise ValueError(f"expected an IPv{version} address, got {value!r}")
    return str(address)


def ip_network(value: str) -> str:
    """`value` as a normalised network (host bits cleared): `10.1.2.3/8` is `10.0.0.0/8`."""
    _scope_free(value)
    return str(ipaddress.ip_network(value, strict=False))


#: Validated one by one, so an error names the element (`services.web.listen[1]`).
IpAddress = Annotated[str, AfterValidator(ip_address)]
Network = Annotated[str, AfterValidator(ip_network)]
