"""The client config file: the API address and the user's token, kept between runs.

The `xae` CLI reads and writes it (`xae.cli.config`, `xae login`), and `xae-admin bootstrap`
writes it to log this machine's CLI in. It lives here, neither server nor CLI code, so neither
package imports the other; it imports nothing of xae.

The file is `$XDG_CONFIG_HOME/xae/config.json` (`~/.config/xae/config.json` by default). It
holds a bearer token, so it is created with mode 0600 inside a 0700 directory and written
atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:5050"


@dataclass(frozen=True)
class ClientConfig:
    api_url: str = DEFAULT_API_URL
    """Base URL of the xae REST API, without the `/v1` prefix."""

    token: str | None = None
    """Bearer token from `xae login`; `None` when logged out."""


class BadClientConfig(Exception):
    """The stored file cannot be used; `message` says how to fix it."""

    def __init__(self, message: str, *, code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "xae" / "config.json"


def load_stored() -> ClientConfig:
    """The config as stored on disk, ignoring environment overrides."""
    path = config_path()
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return ClientConfig()
    except (OSError, ValueError) as e:
        raise BadClientConfig(
            f"cannot read {path}: {e}; fix or delete it and run `xae login`",
            code="bad_config",
        ) from e
    if not isinstance(raw, dict):
        raise BadClientConfig(f"{path} is not a JSON object; delete it and run `xae login`")
    api_url = raw.get("api_url")
    token = raw.get("token")
    return ClientConfig(
        api_url=api_url if isinstance(api_url, str) and api_url else DEFAULT_API_URL,
        token=token if isinstance(token, str) and token else None,
    )


def save(config: ClientConfig) -> Path:
    """Write `config` with mode 0600 (the directory 0700); returns the file's path."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload: dict[str, str] = {"api_url": config.api_url}
    if config.token is not None:
        payload["token"] = config.token
    tmp = path.with_name(path.name + ".tmp")
    # O_CREAT with 0600 so the token is never readable by others, not even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
