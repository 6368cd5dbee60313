"""git's credential helper for xae (`xae git:credential`, set up by `xae git:remote`).

git runs a credential helper for every push and fetch that needs one, twice (`get`, then
`store` when the token worked), so it must start fast: `xae git:remote` configures this module
(`python -m xae.cli.credential`), which imports only the client config, not the whole CLI.

`get` answers with the token of `xae login` (or `XAE_TOKEN`) as the password, and only when git
asks about the API the CLI is logged in to (`XAE_API_URL` or the stored address); `store` and
`erase` do nothing: the token belongs to `xae login`, and no other helper may keep it.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from xae.clientconfig import BadClientConfig, load_stored


def parse_credential_request(text: str) -> dict[str, str]:
    """git's credential request: `key=value` lines up to an empty one."""
    attributes: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            break
        key, sep, value = line.partition("=")
        if sep:
            attributes[key] = value
    return attributes


def credential_answer(request: dict[str, str], api_url: str, token: str | None) -> str:
    """The answer to `get`: the token as the password when git asks about the API this CLI is
    logged in to; nothing otherwise (git then asks its other helpers, or the user)."""
    parts = urlsplit(api_url)
    same = request.get("protocol") == parts.scheme and request.get("host") == parts.netloc
    if not same or not token:
        return ""
    return f"username=xae\npassword={token}\n"


def answer(action: str, request_text: str) -> str:
    """What the helper prints for `action` (`get`, `store`, `erase`)."""
    request = parse_credential_request(request_text)
    if action != "get":
        return ""
    try:
        stored = load_stored()
    except BadClientConfig as e:
        sys.stderr.write(f"xae git:credential: {e.message}\n")
        return ""
    api_url = os.environ.get("XAE_API_URL") or stored.api_url
    token = os.environ.get("XAE_TOKEN") or stored.token
    return credential_answer(request, api_url, token)


def main(argv: list[str]) -> int:
    action = argv[0] if argv else ""
    sys.stdout.write(answer(action, sys.stdin.read()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
