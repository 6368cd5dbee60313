"""Password hashing with scrypt (stdlib), so no plaintext or fast hash ever reaches the store.

`unknown_user_hash` exists so that checking a password costs the same whether or not the user
exists: a login for a name nobody has is verified against it, never answered early, so the
time a login takes does not tell an attacker which user names are real.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@functools.cache
def unknown_user_hash() -> str:
    """A hash of the same cost as a real one, of a password no one knows (made once)."""
    return hash_password(secrets.token_urlsafe(32))
