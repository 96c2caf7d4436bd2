"""Who does something: the actor every change of state is recorded with (SPEC "Who did
what"), rendered ``cli:<unix user>``, ``web:<login>``, ``api:<token>``, ``sms:<sender>`` or
``system``, plus the client address it came from where there is one."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal

Kind = Literal["cli", "web", "api", "sms", "system"]


@dataclass(frozen=True)
class Actor:
    kind: Kind
    name: str = ""
    client: str | None = None  # an IP address, a terminal: where the request came from

    def __str__(self) -> str:
        return self.kind if self.kind == "system" else f"{self.kind}:{self.name}"

    @classmethod
    def cli(cls) -> Actor:
        """The Unix user running the command."""
        return cls("cli", getpass.getuser())

    @classmethod
    def web(cls, login: str, client: str | None) -> Actor:
        """A console user, from the address the request came from."""
        return cls("web", login, client)

    @classmethod
    def api(cls, token: str, client: str | None) -> Actor:
        """A program calling the HTTP API with the token of this name."""
        return cls("api", token, client)

    @classmethod
    def sms(cls, sender: str) -> Actor:
        return cls("sms", sender)


SYSTEM = Actor("system")
