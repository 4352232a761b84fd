"""Reference codes of reports: short, easy to read aloud, not guessable (e.g. PA-7K3Q9).

Five characters from an alphabet without look-alikes (no 0/O, no 1/I/L): 31^5, about
28 million codes, drawn with `secrets`. Uniqueness is the database's job (a unique
constraint); the caller draws again on a collision.
"""

from __future__ import annotations

import re
import secrets

PREFIX = "PA-"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 5
_TYPED = re.compile(rf"^(?:PA)?([{ALPHABET}]{{{LENGTH}}})$")


def new_code() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def parse(typed: str) -> str | None:
    """The code a resident typed ("pa-7k3q9", "PA 7K3Q9", "7K3Q9"), or None if it cannot be one."""
    compact = re.sub(r"[\s\-_.]", "", typed.upper())
    match = _TYPED.match(compact)
    return PREFIX + match.group(1) if match else None
