"""A real ACME CA on loopback (`tests.pebble`) and a plain HTTP server holding the HTTP-01
answers where, in production, the router hands them to xae's API. Everything started is
stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.pebble import Pebble, running_pebble

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


class Responder(ThreadingHTTPServer):
    """Answers HTTP-01 challenges from `tokens` (or from `source`, e.g. a platform's challenge
    board, as the API does); records what was asked; `answering = False` makes every check
    fail."""

    daemon_threads = True

    def __init__(self, source: Callable[[str], str | None] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _ChallengeHandler)
        self.tokens: dict[str, str] = {}
        self.source = source or self.tokens.get
        self.answering = True
        self.asked: list[str] = []
        self.published: list[str] = []

    def publish(self, token: str, key_authorization: str) -> None:
        self.tokens[token] = key_authorization
        self.published.append(token)

    def withdraw(self, token: str) -> None:
        self.tokens.pop(token, None)


class _ChallengeHandler(BaseHTTPRequestHandler):
    server: Responder

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.asked.append(self.path)
        answer = None
        if self.server.answering and self.path.startswith(CHALLENGE_PREFIX):
            answer = self.server.source(self.path.removeprefix(CHALLENGE_PREFIX))
        body = (answer or "not found").encode()
        self.send_response(200 if answer else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@dataclass
class PebbleWithResponder:
    ca: Pebble
    responder: Responder

    @property
    def directory_url(self) -> str:
        return self.ca.directory_url

    @property
    def ca_file(self) -> Path:
        return self.ca.ca_file


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[PebbleWithResponder]:
    responder = Responder()
    serving = threading.Thread(target=responder.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    try:
        with running_pebble(tmp_path / "pebble", responder.server_address[1]) as ca:
            yield PebbleWithResponder(ca, responder)
    finally:
        responder.shutdown()
        serving.join(timeout=10)
        responder.server_close()
