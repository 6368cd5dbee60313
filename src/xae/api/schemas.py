"""The API's request and response bodies (pydantic). The CLI relies on these shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from xae.domain.images import DEFAULT_IMAGE_PORT


class TokenCreate(BaseModel):
    username: str
    password: str


class TokenPublic(BaseModel):
    token: str
    expires_at: datetime


class WhoAmI(BaseModel):
    username: str
    is_admin: bool


class Component(BaseModel):
    name: str
    healthy: bool
    detail: str
    hint: str = ""


class RouterInfo(BaseModel):
    address: str
    base_domain: str


class Status(BaseModel):
    api_url: str
    backend: str
    router: RouterInfo
    components: list[Component]


class AppCreate(BaseModel):
    name: str = Field(max_length=100)


class AppUpdate(BaseModel):
    health_path: str | None = Field(
        None,
        description="starts with '/'; RFC 3986 path and query characters (printable ASCII, no "
        "spaces), at most 256 (checked by `xae.domain.health`)",
    )
    health_timeout: float | None = None
    health_attempts: int | None = None
    drain_seconds: float | None = None


class AppPublic(BaseModel):
    name: str
    url: str
    owner: str
    created_at: datetime
    release: int | None


class Health(BaseModel):
    path: str
    timeout: float
    attempts: int
    drain_seconds: float


class FormationPublic(BaseModel):
    type: str
    quantity: int
    memory: str
    cpus: float
    command: str


class InstancePublic(BaseModel):
    name: str
    type: str
    release: int
    state: str
    healthy: bool | None
    address: str | None
    started_at: datetime | None
    memory: str
    cpus: float


class AppInfo(AppPublic):
    formation: list[FormationPublic]
    instances: list[InstancePublic]
    health: Health


class ReleasePublic(BaseModel):
    version: int
    description: str
    status: str
    build_id: int | None
    image: str | None
    created_at: datetime
    created_by: str
    config_keys: list[str]
    failure_reason: str | None = None


class ImageDeploy(BaseModel):
    """A deploy of a ready-made image; checked by `xae.domain.images`, which says what to fix."""

    image: str = Field(description="[registry[:port]/]name[:tag][@sha256:digest]")
    port: int = Field(DEFAULT_IMAGE_PORT, description="the port the web process listens on")
    command: str = Field("", description="the web command; empty runs the image's own CMD")


class RollbackRequest(BaseModel):
    version: int | None = None


class FormationUpdate(BaseModel):
    type: str
    quantity: int | None = None
    memory: str | None = None
    cpus: float | None = None


class FormationPatch(BaseModel):
    updates: list[FormationUpdate]


class RestartRequest(BaseModel):
    type: str | None = None
