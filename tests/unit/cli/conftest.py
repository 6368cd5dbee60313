"""Fixtures for CLI unit tests: an isolated config dir and a fake API behind httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.unit.cli.cli_fakes import FakeApi
from typer.testing import CliRunner, Result

from xae.cli.client import Session
from xae.cli.main import app


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("XAE_API_URL", "XAE_TOKEN", "XAE_APP"):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture
def logged_in(config_home: Path) -> Path:
    path = config_home / "xae" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"api_url": "http://xae.test", "token": "tok-123"}))
    return path


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def run(fake_api: FakeApi) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        session = Session(transport=httpx.MockTransport(fake_api.handle))
        return runner.invoke(app, list(args), obj=session, input=input)

    return invoke
