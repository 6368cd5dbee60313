"""xae's one exception tree.

Every layer raises these (wrapping lower-level errors with `raise ... from e`); the API maps
them to HTTP in one place (`xae.api.errors`). Each error carries a stable `code` that scripts
can rely on and a message that says what went wrong and what to do. Messages never contain
secrets: config values, tokens and passwords stay out of them.
"""

from __future__ import annotations

from typing import Any


class XaeError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(XaeError):
    code = "invalid_input"
    status = 422


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


class AlreadyExists(XaeError):
    code = "already_exists"
    status = 409


class Conflict(XaeError):
    code = "conflict"
    status = 409


class Unauthorized(XaeError):
    code = "unauthorized"
    status = 401


class Forbidden(XaeError):
    code = "forbidden"
    status = 403


class BuildFailed(XaeError):
    code = "build_failed"
    status = 422


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
