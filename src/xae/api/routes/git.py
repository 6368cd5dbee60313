"""Git hosting: each app's repository over git's smart HTTP, and its deploy branch.

`/git/<app>.git/...` is what `git clone`, `git fetch` and `git push` talk to (the remote
`xae git:remote` adds): the token is the HTTP Basic password (`xae git:credential` answers git
for it), fetching needs to read the app, pushing needs the deploy action on its team, and
another team's app answers 404 like the rest of the API (`xae.api.guards.GitAccess`). Only
the smart protocol is served, by `git http-backend` (`xae.codecenter.githttp`); a push carries
a channel for its `pre-receive` hook to deploy through (`xae.codecenter.push`). These routes
speak git, not JSON, so they are left out of the OpenAPI document (still guarded).

`/v1/apps/<app>/git` shows the repository's path and deploy branch; `PUT .../git/branch`
changes the branch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from xae.api.deps import GitPrincipalDep, PlatformDep
from xae.api.guards import AppDeploy, AppRead, GitRepo, Self
from xae.api.schemas import GitBranchSet, GitInfo
from xae.codecenter.githttp import SERVICES, CGIRequest, cgi_environ, run_backend
from xae.codecenter.push import PushChannel
from xae.codecenter.repos import ensure_repo, set_deploy_branch
from xae.control.platform import Platform
from xae.errors import Forbidden
from xae.store.models import App

router = APIRouter(tags=["git"])
info_router = APIRouter(prefix="/v1/apps", tags=["git"])

_SLACK = 1 << 20
"""Bytes a push may carry beyond `max_upload_bytes` (its ref commands); the pack itself is
bounded by the repository's `receive.maxInputSize`."""


def _nothing() -> None:
    return None


class CGIResponse(StreamingResponse):
    """The backend's output, streamed. Unlike `StreamingResponse`, it never reads the request
    while it answers (Starlette's watches for a disconnect that way): the request body is still
    being fed to the backend then, and a message taken here would never reach it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError as e:
            raise ClientDisconnect() from e


async def _serve(
    request: Request,
    p: Platform,
    app: App,
    user_name: str,
    service: str,
    path_info: str,
    channel: PushChannel | None = None,
) -> StreamingResponse:
    if service not in SERVICES:
        raise Forbidden("xae serves git's smart HTTP protocol only: use git 2.x (`git --version`)")
    try:
        await run_in_threadpool(ensure_repo, p.settings, app.name, app.deploy_branch)
        headers = request.headers
        cgi = CGIRequest(
            method=request.method,
            path_info=path_info,
            query=request.url.query,
            content_type=headers.get("content-type"),
            content_length=headers.get("content-length"),
            content_encoding=headers.get("content-encoding"),
            git_protocol=headers.get("git-protocol"),
            remote_addr=request.client.host if request.client else "",
            remote_user=user_name,
        )
        env = cgi_environ(cgi, p.settings.repos_dir, channel.environ() if channel else None)
        cleanup: Callable[[], None] = channel.close if channel else _nothing
        response = await run_backend(
            env, request.stream(), p.settings.max_upload_bytes + _SLACK, cleanup
        )
    except BaseException:
        if channel is not None:
            channel.close()
        raise
    return CGIResponse(response.body, status_code=response.status, headers=dict(response.headers))


@router.get("/git/{name}.git/info/refs", include_in_schema=False)
async def info_refs(
    app: GitRepo, user: GitPrincipalDep, request: Request, p: PlatformDep, service: str = ""
) -> StreamingResponse:
    return await _serve(request, p, app, user.name, service, f"/{app.name}.git/info/refs")


@router.post("/git/{name}.git/git-upload-pack", include_in_schema=False)
async def upload_pack(
    app: GitRepo, user: GitPrincipalDep, request: Request, p: PlatformDep
) -> StreamingResponse:
    service = "git-upload-pack"
    return await _serve(request, p, app, user.name, service, f"/{app.name}.git/{service}")


@router.post("/git/{name}.git/git-receive-pack", include_in_schema=False)
async def receive_pack(
    app: GitRepo, user: GitPrincipalDep, request: Request, p: PlatformDep
) -> StreamingResponse:
    service = "git-receive-pack"
    previews = app.previews_idle is not None
    channel = await run_in_threadpool(
        partial(PushChannel, previews=previews), p, user, app, app.deploy_branch
    )
    return await _serve(request, p, app, user.name, service, f"/{app.name}.git/{service}", channel)


def _info(app: App, branch: str) -> GitInfo:
    return GitInfo(path=f"/git/{app.name}.git", branch=branch)


@info_router.get("/{name}/git")
def git_info(app: AppRead) -> GitInfo:
    return _info(app, app.deploy_branch)


@info_router.put("/{name}/git/branch")
def set_branch(app: AppDeploy, body: GitBranchSet, p: PlatformDep, user: Self) -> GitInfo:
    return _info(app, set_deploy_branch(p, user, app, body.branch))
