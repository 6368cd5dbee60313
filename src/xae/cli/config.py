"""Where the CLI keeps the API address and the user's token between runs (`xae.clientconfig`).

The file format lives in `xae.clientconfig`, shared with `xae-admin bootstrap` (which logs this
machine's CLI in); here it gets the CLI's error type and the `XAE_API_URL` / `XAE_TOKEN`
overrides, so scripts and CI never need the file.
"""

from __future__ import annotations

import os

from xae.cli.errors import CLIError
from xae.clientconfig import DEFAULT_API_URL, BadClientConfig, ClientConfig, config_path, save
from xae.clientconfig import load_stored as _load_stored

__all__ = ["DEFAULT_API_URL", "ClientConfig", "config_path", "load", "load_stored", "save"]


def load_stored() -> ClientConfig:
    """The config as stored on disk, ignoring environment overrides."""
    try:
        return _load_stored()
    except BadClientConfig as e:
        raise CLIError(e.message, code=e.code) from e


def load() -> ClientConfig:
    """The effective config: the stored file, overridden by `XAE_API_URL` / `XAE_TOKEN`."""
    stored = load_stored()
    return ClientConfig(
        api_url=os.environ.get("XAE_API_URL") or stored.api_url,
        token=os.environ.get("XAE_TOKEN") or stored.token,
    )
