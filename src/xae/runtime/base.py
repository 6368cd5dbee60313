"""The contract between the control layer and the app runtime backends.

There are two kinds of backend, because the two targets differ in who drives a rollout:

- a `Runtime` (docker) starts and stops single instances; xae's own converger does the
  health-gated rollout and feeds the router;
- an `Orchestrator` (kubernetes) receives a whole `AppPlan` and lets the cluster roll it out
  (Deployments, probes, `maxUnavailable: 0`); the router follows the cluster's ready endpoints.

Both report what actually runs as `Instance`s and keep no desired state of their own, so a
restarted control plane can always rebuild its view from the backend. The plan types live here,
not in `xae.control`, because they are what a backend is asked to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from xae.domain.runas import APP_RUN_AS, ROOT
from xae.domain.states import InstanceState


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start: what to run, with which config and limits."""

    app: str
    process: str
    release: int
    image: str
    command: str
    env: dict[str, str]
    port: int | None
    memory_bytes: int
    cpus: float
    pids_limit: int
    spec_hash: str
    """Identifies everything above; an instance with another hash than the plan is replaced."""
    tmp_bytes: int = 64 * 1024**2
    """The size of the instance's `/tmp`, a memory-backed tmpfs (ENOSPC past it)."""
    disk_bytes: int | None = None
    """Where the backend can bound it: the writable layer (Kubernetes `ephemeral-storage`)."""
    read_only: bool = False
    """The root filesystem is mounted read-only; `/tmp` stays a writable tmpfs."""
    run_as: str = APP_RUN_AS
    """Who its processes run as (`xae.domain.runas`): `<uid>:<gid>`, or `ROOT`, which a
    backend runs only inside a user namespace."""

    @property
    def root_in_userns(self) -> bool:
        """Whether the image needs root, and so a user namespace."""
        return self.run_as == ROOT


@dataclass(frozen=True)
class OneOffSpec:
    """A command run once, to completion, in a new container of a release: the release phase
    (`release:` in the Procfile), a cron run, a manifest's postdeploy script. Both backends run
    it with the release's image, config and limits, stream its output and report its exit."""

    app: str
    release: int
    image: str
    command: str
    env: dict[str, str]
    kind: str
    """What it is for: `release`, `cron`, `postdeploy` (labels and names carry it)."""
    name: str
    """Unique among the app's one-offs, a DNS label (e.g. `release-v7`, `cron-backup-1733`)."""
    memory_bytes: int
    cpus: float
    pids_limit: int
    timeout: float
    """Seconds; past it the container is killed and the run counts as failed."""
    tmp_bytes: int = 64 * 1024**2
    run_as: str = APP_RUN_AS
    owner: str = ""
    """The app's team: on kubernetes, the namespace the one-off runs in."""


@dataclass(frozen=True)
class OneOffResult:
    """How a one-off ended: its exit code, or that it was killed at its timeout."""

    exit_code: int | None
    """None when it never exited by itself (killed at the timeout, or lost)."""
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


OutputLine = Callable[[str], None]
"""Called with each line a one-off prints (stdout and stderr), without its newline."""


@dataclass(frozen=True)
class HealthCheck:
    """How a new web instance proves it serves, the same on both backends.

    `attempts` and `interval` mean one thing everywhere: together they are the instance's
    start budget, `attempts × interval` seconds from its start (`start_budget`), within which a
    check must pass. Within it the docker strategy probes often at first and then every
    `interval` (about `attempts` probes when the app refuses connections); the kubernetes
    startup probe runs every second (its period cannot be shorter) with the budget as its
    failure threshold. Each probe waits at most `timeout` for an answer.
    """

    path: str
    timeout: float
    attempts: int
    interval: float
    strict: bool
    """With a user-set path only 2xx/3xx count; the default `/` accepts any non-5xx answer."""
    host: str = ""
    """The `Host` the check sends: the app's own host name (`<app>.<base domain>`), as the
    router sends it, so the app answers the check as it answers its users."""

    @property
    def start_budget(self) -> float:
        """Seconds a new instance has, from its start, to pass the check."""
        return self.attempts * self.interval


@dataclass(frozen=True)
class ProcessPlan:
    process: str
    quantity: int
    spec: InstanceSpec


@dataclass(frozen=True)
class SplitPlan:
    """A weighted traffic split between releases of the app (`xae.control.splits`)."""

    weights: tuple[tuple[int, int], ...]
    """(release, percent) in the user's order; they add up to 100."""
    sticky: bool
    web: tuple[ProcessPlan, ...]
    """The `web` process of every release in the split with a weight above 0 other than the
    plan's own release (whose `web` is in `AppPlan.processes`)."""


@dataclass(frozen=True)
class AppPlan:
    app: str
    owner: str
    """The app's team: on kubernetes, its namespace."""
    release: int
    processes: tuple[ProcessPlan, ...]
    health: HealthCheck
    drain_seconds: float
    split: SplitPlan | None = None
    """While a split is on: the other releases' web instances to run and the weights to route
    by; None: every request goes to `release`."""

    def spec_hashes(self) -> set[str]:
        hashes = {p.spec.spec_hash for p in self.processes}
        if self.split is not None:
            hashes |= {p.spec.spec_hash for p in self.split.web}
        return hashes


Progress = Callable[[str], None]
RoutesChanged = Callable[[dict[str, list[str]]], None]
"""Called with app → ready `address:port`s for every app whose endpoints changed. While an app
splits its traffic, the ready web instances of each other release of the split come under
`app/v<N>` (app names never hold a `/`), in the same call as the app's own key; a release
missing from such a call has none."""


@dataclass(frozen=True)
class Instance:
    """One running (or dead) instance as the backend sees it."""

    id: str
    name: str
    app: str
    process: str
    release: int
    spec_hash: str
    state: InstanceState
    """The backend's word for it: docker's container states, the kubernetes backend's pod
    states; every one is listed and documented in `InstanceState`."""
    address: str | None
    port: int | None
    memory_bytes: int
    cpus: float
    started_at: datetime | None = None
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ready: bool | None = None
    """Set by backends that know readiness themselves (kubernetes); else xae's health checks."""
    user: str = ""
    """Who it runs as, as `xae ps` shows it (`10001`, `root (userns)`); "" when unknown."""

    @property
    def running(self) -> bool:
        return self.state == InstanceState.RUNNING


class Backend(Protocol):
    """What every backend does: report, stream logs, remove."""

    name: str

    def ping(self) -> None:
        """Raise `RuntimeUnavailable` (saying what to do) when the backend cannot be reached."""

    def remove_app(self, app: str) -> None:
        """Remove everything of `app`: instances, networks, config, images."""

    def list_instances(self, app: str | None = None) -> list[Instance]:
        """Every instance xae created (of `app`, if given), whatever its state."""

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        """The output, line by line, each starting with an RFC 3339 timestamp and a space.

        The iterator may have a `close()` that ends a `follow` from another thread.
        """
        ...

    def run_oneoff(self, spec: OneOffSpec, on_line: OutputLine) -> OneOffResult:
        """Run `spec` to completion (confined as an instance is), pass each line it prints to
        `on_line` as it comes, kill it at `spec.timeout`, and remove it whatever happened.

        One-offs are never instances: `list_instances` does not report them, so no rollout
        drains them and `xae ps` does not show them."""
        ...

    def prune_oneoffs(self) -> int:
        """Remove the one-offs a previous control plane left (it stopped during their run:
        nobody waits for them any more); returns how many. Called once at start."""
        ...


class Runtime(Backend, Protocol):
    """An instance-level backend: xae's converger starts, gates and drains each instance."""

    def ensure_network(self, app: str) -> None:
        """Create the app's private network if it does not exist."""

    def start(self, spec: InstanceSpec) -> Instance:
        """Start one instance and return it once it runs (not necessarily healthy yet)."""

    def stop(self, instance: Instance, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds, then remove the instance."""


@runtime_checkable
class Orchestrator(Backend, Protocol):
    """A declarative backend: it receives whole plans and rolls them out itself."""

    def apply(self, plan: AppPlan, progress: Progress) -> None:
        """Make the cluster run `plan` and return once every process type is rolled out and
        ready. On failure, put back what ran before and raise `DeployFailed`."""

    def in_sync(self, plan: AppPlan) -> bool:
        """Whether the cluster already runs `plan` (from a watch cache: cheap, no request)."""

    def apps(self) -> set[str]:
        """Names of the apps that have anything in the cluster (from the watch cache)."""

    def ready_addresses(self, app: str, plan: AppPlan) -> list[str]:
        """`address:port` of the web instances of `plan` that are ready now."""

    def watch(self, on_routes: RoutesChanged) -> None:
        """Start the background watches; `on_routes` gets every change of ready endpoints,
        and once the full current set after each (re)list."""

    def close(self) -> None:
        """Stop the watches."""


@dataclass(frozen=True)
class ScheduledSpec:
    """A cron job an orchestrator schedules itself (a Kubernetes CronJob): each run is
    `oneoff` (the current release's image, config and limits), started on `schedule`."""

    job: str
    """The job's name, unique in its app (a DNS label of at most 20 characters)."""
    schedule: str
    """5 fields, as the cluster reads them (macros expanded)."""
    zone: str
    """An IANA zone name the schedule is read in."""
    allow_overlap: bool
    """False: a time that comes while a run still runs is skipped."""
    starting_deadline: int
    """Seconds after its time within which a run may still start; later, it is not run."""
    oneoff: OneOffSpec


@dataclass(frozen=True)
class AppSchedule:
    """Every cron job of one app, as its orchestrator must schedule them."""

    app: str
    owner: str
    jobs: tuple[ScheduledSpec, ...]


@dataclass(frozen=True)
class ClusterRun:
    """A run the cluster started for a cron job (a Job), as the cluster reports it now."""

    app: str
    job: str
    name: str
    """The Job's name: unique, the key the control plane records the run under."""
    namespace: str
    release: int | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str
    """`running`, `succeeded`, `failed` or `timed_out`."""
    exit_code: int | None
    stuck: str = ""
    """Why its container cannot start (`ErrImagePull`, ...) while it runs: the cluster keeps
    trying until the Job's deadline, which for a cron job can be hours away."""


@dataclass(frozen=True)
class ClusterSkip:
    """The cluster's record that it skipped times of a cron job (a run still ran): one event
    that counts them, `count` so far, the last at `last_at`."""

    app: str
    job: str
    key: str
    count: int
    first_at: datetime | None
    last_at: datetime | None


@runtime_checkable
class CronCluster(Protocol):
    """An orchestrator that runs cron jobs itself (Kubernetes CronJobs): xae declares them,
    the cluster starts the runs, xae watches them and records each."""

    def apply_schedules(self, schedules: list[AppSchedule]) -> None:
        """Make the cluster's cron jobs exactly `schedules` (every app's): create or update
        what changed, delete the others with their runs and config."""

    def start_scheduled(self, app: str, job: str, name: str) -> None:
        """Start a run of `job` now, as Job `name`, from its CronJob's template."""

    def cluster_runs(self) -> list[ClusterRun]:
        """Every run of a cron job the cluster still has (running or finished)."""

    def run_output(self, run: ClusterRun, limit: int) -> list[str]:
        """The last lines (at most `limit`) the run printed; [] when they are gone."""

    def cluster_skips(self) -> list[ClusterSkip]:
        """The cluster's records of skipped times, of every app's cron jobs."""

    def stop_run(self, run: ClusterRun) -> None:
        """End a run now: delete its Job and pod (one stuck before its container started)."""
