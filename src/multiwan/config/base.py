"""The base of every config section."""

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


@dataclass(frozen=True)
class Expected:
    """What error messages say a value of a type should look like (`expected ...`). Kept
    apart from a field's `description`, which documents the field (config reference, JSON
    Schema)."""

    text: str


#: Here because both links and services name interfaces.
INTERFACE_NAME = (
    "an interface name (1-15 bytes; no blanks, control characters, '/', ':', '*', '\\' or "
    "quotes; not '.' or '..')"
)


def _interface_name(value: str) -> str:
    """As the kernel's dev_valid_name takes it (IFNAMSIZ, no '/', ':' or isspace bytes,
    which include 0xA0), and safe in nft strings, where '*' is a wildcard and '\\' escapes."""
    raw = value.encode()
    if (
        not 1 <= len(raw) <= 15
        or value in (".", "..")
        or not value.isprintable()
        or any(c.isspace() or c in "/:*\\\"'" for c in value)
        or b"\xa0" in raw
    ):
        raise ValueError(f"expected {INTERFACE_NAME}, got {value!r}")
    return value


InterfaceName = Annotated[str, AfterValidator(_interface_name), Expected(INTERFACE_NAME)]


class Strict(BaseModel):
    """Unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
