"""Password hashing with argon2id (memory-hard), so no plaintext or fast hash reaches the store.

Parameters: 2 passes over 46 MiB, one lane (OWASP's "m=46 MiB, t=1, p=1" with a second pass):
about 80 ms per hash on the 2-core machine it was measured on, and 46 MiB of memory an attacker
must spend per guess. Hashes made by older xae (scrypt, `scrypt$salt$digest`) still verify;
`needs_rehash` says so, and a successful login stores an argon2id hash in their place
(`xae.auth.tokens.login`), as it does when these parameters change.

At most as many hashes run at once as this machine has CPUs: a burst of logins queues instead
of asking for 46 MiB each at the same time (the login throttle bounds how many fail).

`unknown_user_hash` exists so that checking a password costs the same whether or not the user
exists: a login for a name nobody has is verified against it, never answered early, so the
time a login takes does not tell an attacker which user names are real.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TIME_COST = 2
MEMORY_KIB = 47_104
PARALLELISM = 1

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_running = threading.BoundedSemaphore(os.cpu_count() or 1)

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
"""The parameters of the scrypt hashes xae wrote before argon2id (verified, never written)."""


def hash_password(password: str) -> str:
    with _running:
        return _hasher.hash(password)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    with _running:
        digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return hmac.compare_digest(digest, expected)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        with _running:
            return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether `stored` is not an argon2id hash with today's parameters (re-hash it at the next
    successful login)."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def unknown_user_hash() -> str:
    """A hash of the same cost as a real one, of a password no one knows (made once)."""
    return hash_password(secrets.token_urlsafe(32))
