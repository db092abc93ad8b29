"""Password hashing: argon2id for logins, HA1 for SIP digest.

SIP digest (RFC 2617/7616 MD5) cannot verify against argon2, so an account stores
both: HA1 = md5(username:realm:password), which is only useful for that realm,
and an argon2id hash for the desktop, supervisor and admin logins.
"""

from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def sip_ha1(username: str, realm: str, password: str) -> str:
    # MD5 is what SIP digest mandates; the HA1 is a realm-bound verifier, not a clear password.
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
