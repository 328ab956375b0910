"""The base of every config section."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Here because both links and services name interfaces; `description` is what error
#: messages say was expected.
InterfaceName = Annotated[
    str,
    StringConstraints(pattern=r"^[^\s/:'\"]{1,15}$"),
    Field(description="an interface name (1-15 characters, no blanks, '/', ':' or quotes)"),
]


class Strict(BaseModel):
    """Unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
