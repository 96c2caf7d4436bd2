"""One Argon2id hasher for every secret a person types: console passwords, SMS senders' PINs.

Parameters of OWASP's password storage advice (m=12 MiB, t=3, p=1): a check costs a few tens
of milliseconds on a Raspberry Pi 4 and, unlike RFC 9106's 64 MiB, keeps the console within
its memory budget (glibc keeps an Argon2 buffer resident once used).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

hasher = PasswordHasher(time_cost=3, memory_cost=12288, parallelism=1)


def matches(stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` is what ``stored_hash`` was made from (a damaged hash: no)."""
    try:
        return hasher.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
