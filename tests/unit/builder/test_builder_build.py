"""build_image against a fake Docker API: process types, context preparation, log streaming,
failures carrying the log's tail. The real engine is exercised in tests/integration/builder."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from xae.builder.build import (
    GENERATED_DOCKERFILE,
    exposed_port,
    image_ref,
    plan_processes,
    read_procfile,
)
from xae.builder.build import build_image as real_build_image
from xae.builder.buildnet import BRIDGE_OPTION, BuildNetwork
from xae.builder.jail import BuildJail
from xae.builder.stacks import COPY_APP
from xae.config import Settings
from xae.domain.policy import LOG_TAIL
from xae.errors import BuildFailed, InvalidName, InvalidProcfile


class FakeResponse:
    """What `requests` returns for a streamed `POST /build`: the engine's JSON messages."""

    def __init__(self, chunks: list[dict[str, Any]], block: threading.Event | None = None) -> None:
        self.status_code = 200
        self.chunks = chunks
        self.block = block
        self.raw = SimpleNamespace(connection=None)  # no socket: abort() falls back to close()
        self.closed = threading.Event()
        self.on_close: Callable[[], object] = lambda: None

    def iter_content(self, chunk_size: int | None = None) -> Iterator[bytes]:
        for chunk in self.chunks:
            yield json.dumps(chunk).encode() + b"\r\n"
        if self.block is not None:  # a step that never ends: only closing the request stops it
            self.closed.wait(10)
            raise OSError("Response ended prematurely")

    def json(self) -> dict[str, Any]:
        return {"message": "refused"}

    def close(self) -> None:
        if not self.closed.is_set():
            self.on_close()
        self.closed.set()


class FakeAPI:
    base_url = "http+docker://localhost"
    api_version = "1.41"

    def __init__(
        self,
        chunks: list[dict[str, Any]],
        exposed: dict[str, Any] | None = None,
        missing: tuple[str, ...] = (),
        build_error: Exception | None = None,
        cgroup_root: Path | None = None,
        hang: bool = False,
        step: str = "running",
    ) -> None:
        self.chunks = chunks
        self.exposed = exposed
        self.missing = missing
        self.build_error = build_error
        self.cgroup_root = cgroup_root
        self.hang = hang
        self.step = step
        """With `hang`: the step's container is `running`, `created` (not started yet), or
        `late` (the engine starts it just after the build request is aborted)."""
        self.build_calls: list[dict[str, Any]] = []
        self.context_at_build: dict[str, str] = {}
        self.tags: list[tuple[str, str, str]] = []
        self.networks_created: list[str] = []
        self.killed: list[str] = []
        self.removed: list[str] = []
        self.running: dict[str, Path] = {}
        self.created: dict[str, str] = {}
        """Containers created but not started: id → their cgroup parent."""
        self.pids_max_at_build = ""
        self.context_links: dict[str, str] = {}

    def post(
        self,
        url: str,
        *,
        params: dict[str, Any],
        data: Any,
        stream: bool,
        timeout: float,
        headers: dict[str, str],
    ) -> FakeResponse:
        assert url == "http+docker://localhost/v1.41/build" and stream
        self.build_calls.append(params)
        if self.cgroup_root is not None and "cgroupparent" in params:
            limit = self.cgroup_root / "pids" / params["cgroupparent"].lstrip("/") / "pids.max"
            self.pids_max_at_build = limit.read_text().strip()
            limit.unlink()  # cgroupfs drops control files with their directory; a tmp dir doesn't
        if self.build_error is not None:
            raise self.build_error
        with tarfile.open(fileobj=data, mode="r:") as context:
            for member in context:
                if member.issym():
                    self.context_links[member.name] = member.linkname
                elif member.isreg():
                    body = context.extractfile(member)
                    assert body is not None
                    self.context_at_build[member.name] = body.read().decode()
        response = FakeResponse(self.chunks, threading.Event() if self.hang else None)
        if self.hang and self.cgroup_root is not None:
            cid = "f" * 64
            step = self.cgroup_root / "pids" / params["cgroupparent"].lstrip("/") / cid
            if self.step == "running":
                self._start(cid, step)
            elif self.step == "created":
                self.created[cid] = params["cgroupparent"]
            else:
                response.on_close = lambda: threading.Timer(0.3, self._start, (cid, step)).start()
        return response

    def _start(self, cid: str, step: Path) -> None:
        step.mkdir()  # as runc creates the container's cgroup
        self.running[cid] = step

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, Any]]:
        assert all and filters == {"status": "created"}
        return [{"Id": cid} for cid in self.created]

    def kill(self, cid: str) -> None:
        if cid not in self.running:
            raise docker.errors.APIError(f"Cannot kill container: {cid} is not running")
        self.killed.append(cid)
        self.running.pop(cid).rmdir()

    def remove_container(self, cid: str, force: bool = False) -> None:
        assert force
        if self.created.pop(cid, None) is None and self.running.pop(cid, None) is None:
            raise docker.errors.NotFound(f"no such container: {cid}")
        self.removed.append(cid)

    def inspect_container(self, cid: str) -> dict[str, Any]:
        if cid in self.created:
            return {"Id": cid, "HostConfig": {"CgroupParent": self.created[cid]}}
        if cid not in self.running:
            raise docker.errors.NotFound(f"no such container: {cid}")
        return {"Id": cid}

    def tag(self, image: str, repository: str, tag: str) -> bool:
        self.tags.append((image, repository, tag))
        return True

    def networks(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "Name": n,
                "Id": n,
                "Options": {BRIDGE_OPTION: BuildNetwork.for_plane("default").bridge},
            }
            for n in self.networks_created
            if n in names
        ]

    def create_network(self, name: str, **kwargs: Any) -> dict[str, str]:
        self.networks_created.append(name)
        return {"Id": name}

    def inspect_image(self, ref: str) -> dict[str, Any]:
        if ref in self.missing:
            raise docker.errors.ImageNotFound(f"no such image: {ref}")
        return {"Id": "sha256:" + "ab" * 32, "Config": {"ExposedPorts": self.exposed}}


class FakeClient:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api


class FakeIptables:
    """Stands in for `subprocess.run` of iptables: records each command, every rule present."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("test bundle")
    return Settings(state_dir=tmp_path / "state", ca_bundle=bundle)


def fake_cgroups(root: Path) -> Path:
    """A stand-in for /sys/fs/cgroup (cgroup v1): the controllers' mount points."""
    cgroups = root / "cgroup"
    for controller in ("pids", "memory", "cpu"):
        (cgroups / controller).mkdir(parents=True, exist_ok=True)
    return cgroups


def fake_jail(
    client: FakeClient, settings: Settings, cgroups: Path, iptables: FakeIptables | None = None
) -> BuildJail:
    return BuildJail(
        client,
        settings,
        cgroup_root=cgroups,
        run=iptables or FakeIptables(),
        resolv_conf=Path("/nonexistent"),
    )


def _app(root: Path, files: dict[str, str]) -> Path:
    src = root / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    return src


OK_CHUNKS: list[dict[str, Any]] = [
    {"stream": "Step 1/4 : FROM xae/stack-python:x\n"},
    {"stream": " ---> 70c700e4596b\n"},
    {"stream": "Step 2/4 : RUN pip"},
    {"stream": " install\nCollecting flask\n"},
    {"aux": {"ID": "sha256:" + "cd" * 32}},
    {"stream": "Successfully built cdcdcdcdcdcd\n"},
]


def build_image(
    client: FakeClient,
    src: Path,
    settings: Settings,
    log: list[str] | None = None,
    app: str = "web1",
    dockerfile_path: str | None = None,
) -> Any:
    sink = log if log is not None else []
    client.api.cgroup_root = fake_cgroups(src.parent)
    jail = fake_jail(client, settings, client.api.cgroup_root)
    return real_build_image(
        client,
        src,
        app=app,
        tag="v1",
        settings=settings,
        log=sink.append,
        jail=jail,
        dockerfile_path=dockerfile_path,
    )


# --- process types --------------------------------------------------------------------------


def test_procfile_takes_precedence_over_the_stack_default(tmp_path: Path) -> None:
    src = _app(
        tmp_path,
        {
            "requirements.txt": "gunicorn\n",
            "app.py": "app = 1\n",
            "Procfile": "web: python -m http.server $PORT\nworker: python w.py\n",
        },
    )
    assert plan_processes(src, "python") == {
        "web": "python -m http.server $PORT",
        "worker": "python w.py",
    }


def test_without_procfile_the_stack_default_is_web(tmp_path: Path) -> None:
    src = _app(tmp_path, {"requirements.txt": "gunicorn\n", "app.py": "app = 1\n"})
    assert plan_processes(src, "python") == {"web": "gunicorn --bind 0.0.0.0:$PORT app:app"}


def test_a_dockerfile_app_without_procfile_runs_the_image_cmd(tmp_path: Path) -> None:
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\n"})
    assert plan_processes(src, "dockerfile") == {"web": ""}


def test_a_dockerfile_app_with_a_procfile_uses_it(tmp_path: Path) -> None:
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\n", "Procfile": "web: ./run\n"})
    assert plan_processes(src, "dockerfile") == {"web": "./run"}


def test_a_bad_procfile_names_the_line(tmp_path: Path) -> None:
    src = _app(tmp_path, {"Procfile": "web: ok\nthis is wrong\n"})
    with pytest.raises(InvalidProcfile, match="line 2"):
        read_procfile(src)


def test_an_empty_procfile_is_refused(tmp_path: Path) -> None:
    src = _app(tmp_path, {"Procfile": "# nothing here\n"})
    with pytest.raises(InvalidProcfile, match="no process types"):
        read_procfile(src)


def test_no_procfile_and_no_default_asks_for_one(tmp_path: Path) -> None:
    src = _app(tmp_path, {"package.json": "{}"})
    with pytest.raises(BuildFailed, match="Procfile"):
        plan_processes(src, "node")


# --- small helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exposed", "port"),
    [
        (None, None),
        ({}, None),
        ({"8000/tcp": {}}, 8000),
        ({"53/udp": {}}, None),
        ({"80/tcp": {}, "443/tcp": {}}, None),
    ],
)
def test_exposed_port(exposed: dict[str, Any] | None, port: int | None) -> None:
    assert exposed_port({"Config": {"ExposedPorts": exposed}}) == port


def test_image_ref_validates_app_and_tag() -> None:
    assert image_ref("my-app", "v3") == "xae/app-my-app:v3"
    with pytest.raises(InvalidName):
        image_ref("My_App", "v3")
    with pytest.raises(InvalidName):
        image_ref("my-app", "v3;rm")


# --- build_image with a fake engine ---------------------------------------------------------


def test_stack_build_sends_its_dockerfile_in_the_context_and_streams_whole_lines(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(
        tmp_path,
        {
            "requirements.txt": "flask\n",
            "app.py": "",
            ".dockerignore": "secrets.txt",
            "secrets.txt": "s3cret",
        },
    )
    api = FakeAPI(OK_CHUNKS)
    log: list[str] = []
    built = build_image(FakeClient(api), src, settings, log)

    assert built.ref == "xae/app-web1:v1"
    assert built.image_id == "sha256:" + "cd" * 32
    assert built.stack == "python"
    assert built.processes == {"web": "gunicorn --bind 0.0.0.0:$PORT app:app"}
    assert built.port is None
    call = api.build_calls[0]
    assert call["dockerfile"] == GENERATED_DOCKERFILE
    assert "t" not in call, "xae tags the image itself once the build succeeded in time"
    assert api.tags == [("sha256:" + "cd" * 32, "xae/app-web1", "v1")]
    # The labels ride in the Dockerfile, in one cached step before the code (not `labels=`,
    # which the engine would add as uncached steps after the last one).
    assert "labels" not in call
    generated = api.context_at_build[GENERATED_DOCKERFILE].splitlines()
    label = f'LABEL "xae.app"="web1" "xae.plane"="{settings.plane}"'
    assert generated[generated.index(COPY_APP) - 1] == label
    assert call["rm"] and call["forcerm"]
    assert api.context_at_build[GENERATED_DOCKERFILE].startswith("# Generated by xae")
    ignored = api.context_at_build[".dockerignore"].splitlines()
    assert ignored[0] == "secrets.txt"
    assert {".git", GENERATED_DOCKERFILE, ".venv", ".dockerignore"} <= set(ignored)
    assert "secrets.txt" not in api.context_at_build
    assert api.context_at_build["app.py"] == ""
    # Nothing was written into the tenant's tree, and nothing is left beside it.
    assert sorted(p.name for p in src.iterdir()) == [
        ".dockerignore",
        "app.py",
        "requirements.txt",
        "secrets.txt",
    ]
    assert (src / ".dockerignore").read_text() == "secrets.txt"
    assert {p.name for p in tmp_path.iterdir()} <= {"ca.crt", "cgroup", "src", "state"}
    assert "Step 2/4 : RUN pip install" in log
    assert "Collecting flask" in log
    assert log[-2:] == [
        "Successfully tagged xae/app-web1:v1",
        "-----> built xae/app-web1:v1 (cdcdcdcdcdcd)",
    ]


def test_dockerfile_build_uses_the_apps_dockerfile_and_its_exposed_port(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\nEXPOSE 8000\n"})
    api = FakeAPI(OK_CHUNKS, exposed={"8000/tcp": {}})
    built = build_image(FakeClient(api), src, settings)
    # The app's Dockerfile goes in prepared (`xae.builder.dockerfiles`; here unchanged) under
    # xae's name, kept out of the image; the engine adds the labels.
    assert api.build_calls[0]["dockerfile"] == GENERATED_DOCKERFILE
    assert api.context_at_build[GENERATED_DOCKERFILE] == "FROM xae/base\nEXPOSE 8000\n"
    labels = json.loads(api.build_calls[0]["labels"])
    assert labels == {"xae.app": "web1", "xae.plane": settings.plane}
    assert not (src / GENERATED_DOCKERFILE).exists()
    assert built.processes == {"web": ""}
    assert built.port == 8000


def test_an_error_chunk_fails_with_the_tail_of_the_log(tmp_path: Path, settings: Settings) -> None:
    src = _app(tmp_path, {"requirements.txt": "nope\n", "app.py": ""})
    chunks: list[dict[str, Any]] = [{"stream": f"line {i}\n"} for i in range(50)]
    chunks.append({"stream": "ERROR: No matching distribution found for nope"})
    chunks.append({"errorDetail": {"code": 1}, "error": "The command returned a non-zero code: 1"})
    chunks.append({"stream": "never seen\n"})
    log: list[str] = []
    api = FakeAPI(chunks)
    with pytest.raises(BuildFailed) as raised:
        build_image(FakeClient(api), src, settings, log)
    message = raised.value.message
    assert "No matching distribution found for nope" in message
    assert "non-zero code: 1" in message
    assert "line 49" in message and "line 20" not in message
    assert len(raised.value.details["log_tail"]) == LOG_TAIL
    assert "never seen" not in log
    assert log[-1] == "The command returned a non-zero code: 1"
    assert api.tags == []


RACE: dict[str, Any] = {
    "errorDetail": {},
    "error": 'unable to find image "sha256:' + "5d" * 32 + '"',
}
BUILT: list[dict[str, Any]] = [
    {"stream": "Step 1/2 : FROM stack\n"},
    {"aux": {"ID": "sha256:" + "cd" * 32}},
]


def racing(api: FakeAPI, rounds: list[list[dict[str, Any]]]) -> None:
    """Each build request answers the next of `rounds`."""
    post = api.post

    def next_round(url: str, **kwargs: Any) -> FakeResponse:
        response = post(url, **kwargs)
        response.chunks = rounds.pop(0)
        return response

    api.post = next_round  # type: ignore[method-assign]


def test_a_build_failed_by_an_image_removed_during_its_cache_probe_runs_again(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"index.html": "hi"})
    api = FakeAPI([])
    racing(api, [[{"stream": "Step 1/2 : FROM stack\n"}, RACE], BUILT])
    log: list[str] = []
    build_image(FakeClient(api), src, settings, log)
    assert len(api.build_calls) == 2  # the whole context sent again, from its start
    assert any("building again" in line for line in log)
    assert api.tags[-1][0] == "sha256:" + "cd" * 32


def test_a_failed_step_quoting_the_race_message_is_not_built_again(
    tmp_path: Path, settings: Settings
) -> None:
    """A tenant's RUN command appears in the engine's error: naming the race there must not buy
    the build extra attempts (each up to the build timeout, holding the build slot)."""
    src = _app(tmp_path, {"index.html": "hi"})
    command = 'false # unable to find image "sha256:' + "5d" * 32 + '"'
    quoted = {"error": f"The command '/bin/sh -c {command}' returned a non-zero code: 1"}
    api = FakeAPI([])
    racing(api, [[quoted], BUILT])
    with pytest.raises(BuildFailed, match="non-zero code"):
        build_image(FakeClient(api), src, settings)
    assert len(api.build_calls) == 1


def test_a_build_that_keeps_racing_fails_after_three_attempts(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"index.html": "hi"})
    api = FakeAPI([])
    racing(api, [[RACE], [RACE], [RACE], BUILT])
    with pytest.raises(BuildFailed, match="unable to find image"):
        build_image(FakeClient(api), src, settings)
    assert len(api.build_calls) == 3 and api.tags == []


def test_an_engine_error_is_a_build_failure(tmp_path: Path, settings: Settings) -> None:
    src = _app(tmp_path, {"index.html": "hi"})
    error = docker.errors.APIError("500 Server Error", explanation="Cannot locate Dockerfile")
    with pytest.raises(BuildFailed, match="Cannot locate Dockerfile"):
        build_image(FakeClient(FakeAPI([], build_error=error)), src, settings)


def test_a_missing_stack_image_says_how_to_build_it(tmp_path: Path, settings: Settings) -> None:
    from xae.builder.images import stack_image

    src = _app(tmp_path, {"index.html": "hi"})
    api = FakeAPI(OK_CHUNKS, missing=(stack_image("static", settings),))
    with pytest.raises(BuildFailed, match="xae.builder.images ensure"):
        build_image(FakeClient(api), src, settings)
    assert api.build_calls == []


def test_a_bad_procfile_fails_before_any_build(tmp_path: Path, settings: Settings) -> None:
    src = _app(tmp_path, {"index.html": "hi", "Procfile": "bad line\n"})
    api = FakeAPI(OK_CHUNKS)
    with pytest.raises(InvalidProcfile):
        build_image(FakeClient(api), src, settings)
    assert api.build_calls == []


def test_an_invalid_app_name_fails_before_anything(tmp_path: Path, settings: Settings) -> None:
    src = _app(tmp_path, {"index.html": "hi"})
    api = FakeAPI(OK_CHUNKS)
    with pytest.raises(InvalidName):
        build_image(FakeClient(api), src, settings, app="../etc")
    assert api.build_calls == []


# --- the jail around each build -------------------------------------------------------------


def test_a_build_runs_confined_with_the_configured_limits(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state", build_memory="768M", build_cpus=1.5, build_pids=64
    )
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\n"})
    api = FakeAPI(OK_CHUNKS)
    build_image(FakeClient(api), src, settings)

    call = api.build_calls[0]
    assert (call["memory"], call["memswap"]) == (768 * 1024**2, 768 * 1024**2)
    assert (call["cpuperiod"], call["cpuquota"]) == (100_000, 150_000)
    assert call["networkmode"] == "xae-default.builds"
    assert call["cgroupparent"].startswith("/xae-build-default/")
    assert api.pids_max_at_build == "64"
    assert api.networks_created == ["xae-default.builds"]
    build_dir = tmp_path / "cgroup" / "pids" / call["cgroupparent"].lstrip("/")
    assert not build_dir.exists(), "the build's cgroup is removed once the build is over"


def test_a_build_that_overruns_its_deadline_is_stopped_and_tags_nothing(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", build_timeout=0.3)
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\nRUN sleep 1000\n"})
    chunks: list[dict[str, Any]] = [{"stream": "Step 2/2 : RUN sleep 1000\n"}]
    api = FakeAPI(chunks, hang=True)
    log: list[str] = []
    with pytest.raises(BuildFailed, match=r"timed out after 0\.3 s and was stopped") as raised:
        build_image(FakeClient(api), src, settings, log)
    assert api.killed == ["f" * 64], "the running step's container, found through the cgroup"
    assert api.running == {}
    assert api.tags == []
    assert "Step 2/2 : RUN sleep 1000" in raised.value.message
    build_dir = tmp_path / "cgroup" / "pids" / api.build_calls[0]["cgroupparent"].lstrip("/")
    assert not build_dir.exists()


@pytest.mark.parametrize(
    ("step", "killed", "removed"),
    [("created", [], ["f" * 64]), ("late", ["f" * 64], [])],
    ids=["created-not-started", "started-after-the-abort"],
)
def test_a_stopped_build_also_stops_a_step_the_engine_had_not_started_yet(
    tmp_path: Path, step: str, killed: list[str], removed: list[str]
) -> None:
    settings = Settings(state_dir=tmp_path / "state", build_timeout=0.3)
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\nRUN sleep 1000\n"})
    api = FakeAPI([{"stream": "Step 2/2 : RUN sleep 1000\n"}], hang=True, step=step)
    with pytest.raises(BuildFailed, match=r"timed out after 0\.3 s and was stopped"):
        build_image(FakeClient(api), src, settings)
    assert (api.killed, api.removed) == (killed, removed)
    assert api.running == {} and api.created == {}, "no step container is left"
    build_dir = tmp_path / "cgroup" / "pids" / api.build_calls[0]["cgroupparent"].lstrip("/")
    assert not build_dir.exists()


def test_a_stopped_build_leaves_another_builds_steps_alone(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", build_timeout=0.3)
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\nRUN sleep 1000\n"})
    api = FakeAPI([{"stream": "Step 2/2 : RUN sleep 1000\n"}], hang=True, step="created")
    neighbour = "e" * 64  # another tenant's build step, created and about to start
    api.created[neighbour] = "/xae-build-default/0123456789abcdef"
    with pytest.raises(BuildFailed, match=r"timed out after 0\.3 s and was stopped"):
        build_image(FakeClient(api), src, settings)
    assert api.removed == ["f" * 64]
    assert api.created == {neighbour: "/xae-build-default/0123456789abcdef"}


def test_build_pids_zero_builds_without_a_pids_cgroup(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", build_pids=0)
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\n"})
    api = FakeAPI(OK_CHUNKS)
    build_image(FakeClient(api), src, settings)
    assert "cgroupparent" not in api.build_calls[0]
    assert api.build_calls[0]["networkmode"] == "xae-default.builds"


def test_the_default_build_cpus_leave_one_cpu_to_the_platform() -> None:
    assert Settings().build_cpus == max(1, (os.cpu_count() or 1) - 1)


def test_a_static_build_keeps_dotfiles_and_xae_files_out_of_the_context(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(
        tmp_path,
        {
            "index.html": "hi",
            ".env": "KEY=1",
            "app.json": "{}",
            "Procfile": "web: serve-static\n",
            "xae.yaml": "",
            ".dockerignore": "",
        },
    )
    (src / ".well-known").mkdir()
    (src / ".well-known" / "security.txt").write_text("Contact: x")
    api = FakeAPI(OK_CHUNKS)
    build_image(FakeClient(api), src, settings)
    sent = set(api.context_at_build)
    assert {"index.html", ".well-known/security.txt", GENERATED_DOCKERFILE} <= sent
    assert not sent & {".env", "app.json", "Procfile", "xae.yaml"}
    # The .dockerignore sent is xae's, and it keeps itself and the Dockerfile out of the image.
    ignored = api.context_at_build[".dockerignore"].splitlines()
    assert {".dockerignore", GENERATED_DOCKERFILE, ".*"} <= set(ignored)


def test_manifest_errors_say_where_without_quoting_the_file(
    tmp_path: Path, settings: Settings
) -> None:
    secret = "s3cret-first-line"
    cases = {
        "Procfile": (secret + "\n").encode(),
        "package.json": (secret + "\n").encode(),
        "pyproject.toml": f"[project]\n{secret} ?\n".encode(),
        ".dockerignore": b"ok\n" + secret.encode() + b"\xff\n",
    }
    for name, data in cases.items():
        root = tmp_path / name
        root.mkdir()
        src = _app(root, {"index.html": "hi"} if name in (".dockerignore", "Procfile") else {})
        (src / name).write_bytes(data)
        with pytest.raises((BuildFailed, InvalidProcfile)) as raised:
            build_image(FakeClient(FakeAPI(OK_CHUNKS)), src, settings)
        assert name in raised.value.message and "line" in raised.value.message
        assert secret not in raised.value.message


def test_an_invalid_dockerignore_pattern_is_a_clear_build_failure(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"index.html": "hi", ".dockerignore": "ok\n[z-a]\n"})
    api = FakeAPI(OK_CHUNKS)
    with pytest.raises(BuildFailed, match=r"\.dockerignore has a pattern that is not valid"):
        build_image(FakeClient(api), src, settings)
    assert api.build_calls == []


# --- Dockerfile options and the node stack's runtime image ---------------------------------------


def test_a_dockerfile_path_is_built_over_detection_prepared_for_the_classic_builder(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"package.json": "{}", "Procfile": "worker: ./work\n"})
    (src / "deploy").mkdir()
    (src / "deploy" / "Dockerfile").write_text(
        "# syntax=docker/dockerfile:1\nFROM xae/base\nRUN --mount=type=cache,target=/c make\n"
    )
    api = FakeAPI(OK_CHUNKS, exposed={"8080/tcp": {}})
    log: list[str] = []
    built = build_image(FakeClient(api), src, settings, log, dockerfile_path="deploy/Dockerfile")
    assert built.stack == "dockerfile"
    assert api.build_calls[0]["dockerfile"] == GENERATED_DOCKERFILE
    assert api.context_at_build[GENERATED_DOCKERFILE] == "\nFROM xae/base\nRUN make\n"
    assert "-----> building with deploy/Dockerfile" in log
    assert any("RUN --mount=type=cache dropped" in line for line in log)
    # The Procfile has no web line: the image's CMD is web, its one EXPOSE the port.
    assert built.processes == {"web": "", "worker": "./work"}
    assert built.port == 8080


def test_a_dockerfile_path_missing_from_the_source_fails_before_any_build(
    tmp_path: Path, settings: Settings
) -> None:
    src = _app(tmp_path, {"Dockerfile": "FROM xae/base\n"})
    api = FakeAPI(OK_CHUNKS)
    with pytest.raises(BuildFailed, match="deploy/Dockerfile is not a file in the source"):
        build_image(FakeClient(api), src, settings, dockerfile_path="deploy/Dockerfile")
    assert api.build_calls == []


def test_a_node_app_builds_on_the_image_of_the_version_it_asks_for(
    tmp_path: Path, settings: Settings
) -> None:
    from xae.builder import node_images, node_versions

    src = _app(tmp_path, {"package.json": '{"engines": {"node": "20.x"}}', "server.js": ""})
    api = FakeAPI(OK_CHUNKS)
    log: list[str] = []
    build_image(FakeClient(api), src, settings, log)
    image = node_images.image_for(node_versions.choose("20.x"), settings)
    assert image.startswith("xae/stack-node-20:")
    assert api.context_at_build[GENERATED_DOCKERFILE].splitlines()[1] == f"FROM {image}"
    assert any("Node.js 20.20.2 (engines.node '20.x'" in line for line in log)

    missing = FakeAPI(OK_CHUNKS, missing=(image,))
    (tmp_path / "again").mkdir()
    with pytest.raises(BuildFailed, match="xae.builder.images ensure"):
        build_image(
            FakeClient(missing),
            _app(
                tmp_path / "again", {"package.json": '{"engines": {"node": "20"}}', "server.js": ""}
            ),
            settings,
        )
