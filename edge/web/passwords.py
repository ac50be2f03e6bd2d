"""The page's password, kept as a salted scrypt hash (standard library only): the config holds
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64), never the password.

scrypt is memory-hard, so a stolen config costs an attacker far more per guess than a plain
hash would; checking one login costs the box about 16 MiB for a moment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1  # 16 MiB, ~50 ms on a Pi 4: the interactive parameters of RFC 7914
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_CHARS = 10  # `stopsafe web-password` makes no hash of a shorter one
MAX_PASSWORD_CHARS = 1024  # a login body is bounded anyway; this keeps scrypt's input sane


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password`` (a fresh random salt unless one is given)."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=KEY_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(key)}"


def check_hash_format(stored: str) -> str:
    """``stored`` when it is a hash this module can check; ValueError with what is wrong."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("not a password hash: make one with `stopsafe web-password`")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5],
                                                                                validate=True)
    except ValueError:
        raise ValueError("a damaged password hash: make a new one with "
                         "`stopsafe web-password`") from None
    if n < 2 or n & (n - 1) or n > 2**20 or not 1 <= r <= 32 or not 1 <= p <= 16 \
            or len(salt) < 8 or len(key) < 16:
        raise ValueError("a password hash with unusable parameters: make a new one with "
                         "`stopsafe web-password`")
    return stored


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (compared in constant time)."""
    if not password or len(password) > MAX_PASSWORD_CHARS:
        return False
    parts = check_hash_format(stored).split("$")
    n, r, p = (int(x) for x in parts[1:4])
    salt, key = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                         maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(got, key)
