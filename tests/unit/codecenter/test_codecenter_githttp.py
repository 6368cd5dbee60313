"""The CGI plumbing of git hosting: the backend's environment, and reading its head."""

from __future__ import annotations

from pathlib import Path

import pytest

from xae.codecenter.githttp import BadCGIHead, CGIRequest, cgi_environ, parse_head

REQUEST = CGIRequest(
    method="POST",
    path_info="/web.git/git-receive-pack",
    query="",
    content_type="application/x-git-receive-pack-request",
    content_length=None,
    content_encoding="gzip",
    git_protocol="version=2",
    remote_addr="127.0.0.1",
    remote_user="alice",
)


def test_the_backend_gets_the_request_and_the_repository_root_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XAE_SECRET_KEY", "do-not-leak")
    env = cgi_environ(REQUEST, Path("/state/repos"), {"XAE_PUSH_SECRET": "s"})
    assert env["GIT_PROJECT_ROOT"] == "/state/repos"
    assert env["PATH_INFO"] == "/web.git/git-receive-pack"
    assert env["HTTP_CONTENT_ENCODING"] == "gzip"
    assert env["HTTP_GIT_PROTOCOL"] == "version=2"
    assert env["REMOTE_USER"] == "alice"
    assert env["XAE_PUSH_SECRET"] == "s"
    assert "CONTENT_LENGTH" not in env  # chunked: the backend reads to the end
    assert "XAE_SECRET_KEY" not in env


def test_a_cgi_head_gives_its_status_and_headers() -> None:
    status, headers = parse_head(
        b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nExpires: Fri, 01 Jan 1980\r\n\r\n"
    )
    assert status == 404
    assert headers == [("Content-Type", "text/plain"), ("Expires", "Fri, 01 Jan 1980")]


def test_a_head_without_status_is_200_and_hop_by_hop_headers_are_dropped() -> None:
    status, headers = parse_head(b"Content-Type: a/b\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert (status, headers) == (200, [("Content-Type", "a/b")])


@pytest.mark.parametrize("head", [b"no colon here\r\n\r\n", b"Status: abc\r\n\r\n", b": x\r\n"])
def test_output_that_is_not_a_cgi_head_is_refused(head: bytes) -> None:
    with pytest.raises(BadCGIHead):
        parse_head(head)
