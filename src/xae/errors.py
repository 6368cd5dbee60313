"""xae's one exception tree.

Every layer raises these (wrapping lower-level errors with `raise ... from e`); the API maps
them to HTTP in one place (`xae.api.errors`). Each error carries a stable `code` that scripts
can rely on and a message that says what went wrong and what to do. Messages never contain
secrets: config values, tokens and passwords stay out of them.

Each error also says whether it is `temporary` (as kopf's `TemporaryError` vs `PermanentError`):
a temporary one may go away by itself (the engine was down, the router could not reload, a
process crashed), a permanent one stays until someone changes the app (invalid stored input, a
refused image). The reconciler retries an app's failed pass sooner after a temporary error than
after a permanent one (`xae.control.backoff`).
"""

from __future__ import annotations

from typing import Any


class XaeError(Exception):
    code = "internal_error"
    status = 500
    temporary = True
    """Whether trying again later, with nothing changed, may succeed (see the module doc)."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(XaeError):
    code = "invalid_input"
    status = 422
    temporary = False


class InvalidName(InvalidInput):
    code = "invalid_name"


class InvalidProcfile(InvalidInput):
    code = "invalid_procfile"


class InvalidUpload(InvalidInput):
    code = "invalid_upload"


class UploadTooLarge(InvalidUpload):
    code = "upload_too_large"
    status = 413


class NotFound(XaeError):
    code = "not_found"
    status = 404
    temporary = False


class AlreadyExists(XaeError):
    code = "already_exists"
    status = 409
    temporary = False


class Unauthorized(XaeError):
    code = "unauthorized"
    status = 401
    temporary = False
    challenge = "Bearer"
    """The `WWW-Authenticate` header the API answers with."""


class Forbidden(XaeError):
    code = "forbidden"
    status = 403
    temporary = False


class BuildFailed(XaeError):
    code = "build_failed"
    status = 422
    temporary = False


class DeployFailed(XaeError):
    code = "deploy_failed"
    status = 422


class RuntimeUnavailable(XaeError):
    """The container engine (or cluster) cannot be reached."""

    code = "runtime_unavailable"
    status = 503


class RuntimeFailure(XaeError):
    code = "runtime_error"
    status = 502


class RouterFailure(XaeError):
    code = "router_error"
    status = 502


class PortInUse(XaeError):
    code = "port_in_use"
    status = 409


class ImageNotAllowed(Forbidden):
    """An image deploy named an image the app may not run: another app's build, one of xae's
    own images, or a local image by its ID."""

    code = "image_not_allowed"


class RegistryNotAllowed(Forbidden):
    """An image deploy named a registry inside the platform (loopback, link-local, this
    machine, its internal networks) that no operator allow-listed."""

    code = "registry_not_allowed"


class TooManyRequests(XaeError):
    """Refused for now (e.g. too many failed logins); `retry_after` says for how many seconds."""

    code = "too_many_requests"
    status = 429

    def __init__(
        self, message: str, *, retry_after: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details={**(details or {}), "retry_after": retry_after})
        self.retry_after = retry_after


def is_temporary(error: BaseException) -> bool:
    """Whether `error` may go away without anyone changing anything. An exception from outside
    xae's tree (a bug, or an engine error nobody wrapped) counts as temporary: it is retried,
    only less and less often."""
    if isinstance(error, XaeError):
        return error.temporary
    return True


class BodyTooLarge(InvalidInput):
    """A request body (other than a deploy's upload) larger than the API reads."""

    code = "body_too_large"
    status = 413


class InvalidCertificate(InvalidInput):
    """An uploaded certificate or key that xae will not serve: malformed, mismatched, out of
    order, expired or for other names. The message never quotes the key."""

    code = "invalid_certificate"


class InvalidManifest(InvalidInput):
    """An `xae.yaml` or `app.json` that xae refuses: the message names the file, the key and
    the reason, never a string value of it (`xae.domain.manifest`)."""

    code = "invalid_manifest"


class MissingConfig(InvalidInput):
    """A deploy refused because the app's manifest requires config keys the app has not set;
    `details["missing"]` lists their names."""

    code = "missing_config"


class BuildTimedOut(BuildFailed):
    """A build that overran `build_timeout`: it was stopped, its log kept, nothing tagged."""

    code = "build_timed_out"


class BuildCancelled(XaeError):
    """A build someone cancelled (`xae builds:cancel`) while it waited or ran."""

    code = "build_cancelled"
    status = 409
    temporary = False


class Conflict(XaeError):
    """The object is not in a state that allows the request (e.g. cancelling a finished build)."""

    code = "conflict"
    status = 409
    temporary = False


class HookNotAllowed(InvalidInput):
    """A webhook URL that would make the platform send requests inside itself (SSRF)."""

    code = "hook_not_allowed"


class GitAuthRequired(Unauthorized):
    """A git client without a valid token: the Basic challenge makes git ask its credential
    helper (`xae git:credential`) for the token, sent as the password."""

    challenge = 'Basic realm="xae", charset="UTF-8"'


class ImageCollected(InvalidInput):
    """A rollback (or split) to a release whose image garbage collection removed."""

    code = "image_collected"
    status = 409


class PreviewConflict(InvalidInput):
    """A branch whose preview app name another branch's preview (or an app) already has."""

    code = "preview_conflict"
    status = 409


class PreviewNotAllowed(Forbidden):
    """A preview app would be created by a caller who may not create apps in its team (an
    app-limited or deploy-scoped token): the branch is stored, no preview is made."""

    code = "preview_not_allowed"
