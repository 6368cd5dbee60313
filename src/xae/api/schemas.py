"""The API's request and response bodies (pydantic). The CLI relies on these shapes.

Request bodies are strict (`Request`): `true` is not a number and `"2"` is not an integer, and
numbers have bounds, so nothing a client sends can overflow a database column. Every datetime
in a response is UTC with its offset (`Utc`), as the `date-time` format promises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from xae.domain.access import Role, Scope
from xae.domain.policy import DEFAULT_PORT

MAX_INT = 2**31 - 1
"""The largest version or quantity a request may carry (a database integer holds it)."""


def _as_utc(value: datetime) -> datetime:
    # The store keeps naive UTC datetimes; anything aware is converted.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Utc = Annotated[datetime, AfterValidator(_as_utc)]
"""A datetime that a response serialises as UTC with its offset (`...Z`)."""


class Request(BaseModel):
    """A request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True)


class ErrorInfo(BaseModel):
    code: str = Field(description="stable, for scripts: e.g. `not_found`, `invalid_input`")
    message: str = Field(description="what went wrong and what to do")
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error the API answers with (4xx and 5xx)."""

    error: ErrorInfo


class TokenCreate(Request):
    # Bounded before anything is looked up or hashed: a megabyte password costs no scrypt run.
    username: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class TokenPublic(BaseModel):
    token: str
    expires_at: Utc


class TokenInfo(BaseModel):
    name: str | None
    scope: Scope
    app: str | None = Field(None, description="the one app the token may act on, if limited")
    expires_at: Utc | None = None


class TeamRole(BaseModel):
    team: str
    role: Role


class WhoAmI(BaseModel):
    username: str
    is_admin: bool
    token: TokenInfo | None = None
    teams: list[TeamRole] = []


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
    local_ca: LocalCAInfo | None = None
    """Where the local CA's certificate is and how to trust it."""
    disk: DiskUsagePublic | None = None
    """Bytes xae's data takes on this machine (platform admins only)."""


class AppCreate(Request):
    name: str = Field(max_length=100)


class AppUpdate(Request):
    health_path: str | None = Field(
        None,
        description="starts with '/'; RFC 3986 path and query characters (printable ASCII, no "
        "spaces), at most 256 (checked by `xae.domain.health`)",
    )
    health_timeout: float | None = None
    health_attempts: int | None = None
    drain_seconds: float | None = None
    redirect_https: bool | None = Field(None, description="answer plain HTTP with a redirect")
    max_body: int | None = Field(
        None,
        ge=1,
        le=1024**3,
        description="largest request body in bytes (at most 1 GiB); null: the default",
    )
    read_timeout: int | None = Field(
        None, ge=1, le=3600, description="seconds to wait for the app; null: the default"
    )
    scale_from_zero: bool | None = Field(
        None, description="with no ready instance, hold requests and wake the app"
    )
    dockerfile: str | None = Field(
        None,
        max_length=300,
        description="the Dockerfile to build with, relative to the source's top (e.g. "
        "deploy/Dockerfile; checked by `xae.domain.buildfiles`); '' goes back to detection",
    )


class AppPublic(BaseModel):
    name: str
    url: str
    team: str
    created_at: Utc
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
    read_only: bool = False
    """The root filesystem is read-only; only /tmp is writable."""


class InstancePublic(BaseModel):
    name: str
    type: str
    release: int
    state: str
    healthy: bool | None
    address: str | None
    started_at: Utc | None
    memory: str
    cpus: float
    user: str = ""
    """Who it runs as: a uid (`10001`), or `root (userns)`: root inside a user namespace."""


class Routing(BaseModel):
    """An app's route settings; null: the router's default."""

    redirect_https: bool = False
    max_body: int | None = None
    read_timeout: int | None = None
    scale_from_zero: bool = False


class AppInfo(AppPublic):
    formation: list[FormationPublic]
    instances: list[InstancePublic]
    health: Health
    domains: list[str] = Field(default_factory=list)
    """Custom domains, served beside `url`'s host."""
    routing: Routing = Field(default_factory=Routing)
    dockerfile: str | None = None
    """The Dockerfile builds use (`apps:update --dockerfile`); null: detection decides."""


class ReleasePublic(BaseModel):
    version: int
    description: str
    status: str
    build_id: int | None
    image: str | None
    created_at: Utc
    created_by: str
    config_keys: list[str]
    failure_reason: str | None = None
    commit: str | None = None
    """The commit its build was made from (git pushes)."""
    commit_message: str | None = None


class ImageDeploy(Request):
    """A deploy of a ready-made image; checked by `xae.domain.images`, which says what to fix."""

    image: str = Field(description="[registry[:port]/]name[:tag][@sha256:digest]")
    port: int = Field(DEFAULT_PORT, description="the port the web process listens on")
    command: str = Field("", description="the web command; empty runs the image's own CMD")


class RollbackRequest(Request):
    version: int | None = Field(None, ge=1, le=MAX_INT)


class FormationUpdate(Request):
    type: str = Field(max_length=64)
    quantity: int | None = Field(None, ge=0, le=MAX_INT)
    memory: str | None = Field(None, max_length=32, description="e.g. 256M or 1G")
    cpus: float | None = Field(None, gt=0, le=1024, allow_inf_nan=False)
    read_only: bool | None = Field(
        None, description="a read-only root filesystem (only /tmp stays writable)"
    )


class FormationPatch(Request):
    updates: list[FormationUpdate] = Field(max_length=100)


class RestartRequest(Request):
    type: str | None = Field(None, max_length=64)


class TeamCreate(Request):
    name: str = Field(max_length=100)


class TeamPublic(BaseModel):
    name: str
    role: Role | None = Field(description="the caller's role in the team (admins: none)")
    created_at: Utc


class Member(BaseModel):
    user: str
    role: Role


class TeamInfo(TeamPublic):
    members: list[Member]
    apps: list[str]


class MemberSet(Request):
    # Not strict: a JSON body carries the role as a string, which strict mode refuses for an enum.
    role: Role = Field(strict=False)


class UserCreate(Request):
    name: str = Field(max_length=254, description="an e-mail address")
    password: str | None = Field(
        None, min_length=8, max_length=1024, description="omitted: one is generated and shown once"
    )
    admin: bool = False


class UserPublic(BaseModel):
    name: str
    is_admin: bool
    created_at: Utc


class UserCreated(UserPublic):
    password: str | None = Field(None, description="the generated password, shown only now")


class ApiTokenCreate(Request):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    scope: Scope = Field(Scope.DEPLOY, strict=False)  # a string in JSON, as MemberSet.role
    app: str | None = Field(None, max_length=30, description="limit the token to this app")
    expires_in_days: int = Field(30, ge=1, le=366)


class ApiTokenPublic(BaseModel):
    id: int
    name: str
    scope: Scope
    app: str | None
    created_at: Utc
    expires_at: Utc
    last_used_at: Utc | None
    current: bool = Field(False, description="the token this request was made with")


class ApiTokenIssued(ApiTokenPublic):
    token: str = Field(description="shown only now: store it, e.g. as a CI secret")


class AuditEventPublic(BaseModel):
    id: int
    at: Utc
    actor: str
    token_name: str | None
    source: str | None
    action: str
    target: str
    app: str | None
    result: str
    details: dict[str, Any]


class CertificateCreate(Request):
    """A certificate to upload: PEM text. Chain and key together must fit in the API's
    64 KiB request body; `xae.domain.certs` says what else is checked."""

    chain: str = Field(max_length=48 * 1024, description="PEM: the leaf first, then intermediates")
    key: str = Field(max_length=12 * 1024, description="PEM, unencrypted; never returned")


class CertificatePublic(BaseModel):
    id: int
    names: list[str] = Field(description="the names the certificate covers (SANs)")
    issuer: str
    fingerprint: str = Field(description="SHA-256 of the leaf, hex")
    not_before: Utc
    not_after: Utc
    days_left: int
    created_at: Utc
    created_by: str
    source: str = Field("upload", description="`upload`, or `acme` (renewed by xae)")


class CertificateAdded(BaseModel):
    certificate: CertificatePublic
    replaced: int | None = Field(
        None, description="the certificate with the same names it replaced"
    )
    warnings: list[str] = []


class LocalCAInfo(BaseModel):
    """The local CA that issues `*.<base domain>`: where its certificate is and how to trust it."""

    path: str
    fingerprint: str
    pem: str
    trust: list[str]


class DomainCreate(Request):
    hostname: str = Field(
        min_length=1,
        max_length=1024,
        description="e.g. www.example.com or *.example.com; IDNA names are stored as punycode",
    )


class DomainPublic(BaseModel):
    hostname: str
    """Canonical: lowercase ASCII, punycode for internationalised labels."""
    wildcard: bool
    created_at: Utc
    created_by: str


class SplitShareBody(Request):
    version: int = Field(ge=1, description="The release, e.g. 7 for v7")
    weight: int = Field(ge=0, le=100, description="Percent of the app's requests")


class SplitSet(Request):
    releases: list[SplitShareBody] = Field(
        min_length=1, max_length=16, description="2 to 5 releases whose weights add up to 100"
    )
    sticky: bool = False
    """Keep each client on the release it was first sent to (a cookie)."""


class RouteRelease(BaseModel):
    version: int
    weight: int
    instances: int
    """Healthy web instances serving this release's share."""


class RoutesPublic(BaseModel):
    hosts: list[str]
    current_release: int | None
    split: bool
    sticky: bool
    releases: list[RouteRelease]
    """The split's releases, or the current release alone with weight 100."""
    redirect_https: bool
    max_body: int | None
    read_timeout: int | None
    scale_from_zero: bool


class CronJobCreate(Request):
    name: str = Field(max_length=40, description="e.g. nightly-backup")
    schedule: str = Field(max_length=100, description='5-field cron syntax, e.g. "30 2 * * *"')
    command: str = Field(max_length=1000)
    zone: str | None = Field(default=None, max_length=64, description="IANA zone; UTC default")
    overlap: str | None = Field(default=None, max_length=8, description="`skip` or `allow`")
    timeout: float | None = Field(default=None, description="Seconds a run may take")


class CronJobPublic(BaseModel):
    name: str
    schedule: str
    zone: str
    command: str
    overlap: str
    timeout: float | None
    source: str
    """`cli` or `manifest`."""
    next_run_at: datetime
    """UTC."""
    created_at: datetime
    created_by: str


class CronRunPublic(BaseModel):
    id: int
    job: str
    release: int | None
    status: str
    trigger: str
    due_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    exit_code: int | None
    reason: str | None
    duration: float | None
    """Seconds, once finished."""


class CronRunLogs(CronRunPublic):
    output: str
    """The tail of what it printed (`XAE_CRON_OUTPUT_BYTES`), once it finished."""


class BuildPublic(BaseModel):
    """A build as `xae builds` shows it (its log is `GET .../builds/{build_id}/log`)."""

    id: int
    status: str = Field(description="queued, running, succeeded, failed, cancelled, timed_out")
    stack: str | None
    image: str | None
    source: str | None = Field(description="upload, git or image (None: before the queue)")
    commit: str | None
    commit_message: str | None
    branch: str | None
    started_by: str | None
    queued_at: Utc | None
    started_at: Utc | None
    finished_at: Utc | None
    duration: float | None = Field(description="seconds from start to finish (or to now)")
    release: int | None = Field(description="the release it became, if any")


class BuildLog(BaseModel):
    id: int
    status: str
    log: str
    kept: bool = Field(description="False when the log was pruned (`build_logs_kept`)")


class BuildCancelResult(BaseModel):
    message: str
    build: BuildPublic


class HookCreate(Request):
    url: str = Field(max_length=2048, description="http:// or https:// URL of the receiver")
    events: list[str] = Field(
        default_factory=lambda: ["build", "deploy"], max_length=8, description="build, deploy"
    )


class HookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: Utc
    created_by: str


class HookCreated(BaseModel):
    hook: HookPublic
    secret: str = Field(
        description="signs every event (X-Xae-Signature: sha256=HMAC); shown only this once"
    )


class HookDeliveryPublic(BaseModel):
    id: int
    hook: int
    delivery: str
    event: str
    attempt: int
    status_code: int | None
    ok: bool
    error: str | None
    at: Utc


class GitBranchSet(Request):
    branch: str = Field(max_length=255, description="The branch whose pushes deploy")


class GitInfo(BaseModel):
    path: str
    """The repository's path on the API (`/git/<app>.git`): the remote is the API URL + it."""
    branch: str
    """The deploy branch: pushing it builds and rolls out the pushed commit."""


class DiskUsagePublic(BaseModel):
    """Bytes xae's data takes on this machine, by kind (`xae status`)."""

    images: int
    builds: int
    logs: int
    repositories: int


class GcReport(BaseModel):
    """What a garbage collection pass removed, or in a dry run would remove (`xae gc`)."""

    dry_run: bool
    images: list[str]
    registry_tags: list[str]
    dangling_images: int
    containers: list[str]
    build_dirs: list[str]
    build_cache_entries: int
    previews: list[str]
    reclaimed_bytes: int
    estimated_bytes: int
    errors: list[str]


class PreviewsSet(Request):
    enabled: bool
    idle_seconds: int | None = Field(None, ge=1, le=365 * 86400)
    """How long a preview may go without a push before it is destroyed (default 3 days)."""


class PreviewCreate(Request):
    branch: str = Field(min_length=1, max_length=255)


class PreviewPublic(BaseModel):
    branch: str
    app: str
    url: str
    created_at: Utc
    last_push_at: Utc


class PreviewsPublic(BaseModel):
    enabled: bool
    idle_seconds: int | None
    previews: list[PreviewPublic]


class PreviewRemoved(BaseModel):
    removed: str | None
    """The preview app destroyed; None when the branch had none."""
