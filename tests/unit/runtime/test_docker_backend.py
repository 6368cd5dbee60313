"""The docker runtime on a fake engine client: what a container is made of (`container_args`,
pure), and start, stop, list, remove_app and ensure_image against canned engine answers, in the
style of docker-py's own `fake_api_client`. The real engine is exercised by tests/integration
and tests/e2e."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest
import requests

from xae.domain.gc import pulled_marker
from xae.domain.policy import APP_UID, LABEL_APP, LABEL_MANAGED, LABEL_PLANE
from xae.domain.runas import APP_RUN_AS, IMAGE_USER, ROOT
from xae.domain.states import InstanceState
from xae.errors import RuntimeFailure
from xae.runtime.base import Instance, InstanceSpec
from xae.runtime.command import shell_command
from xae.runtime.docker.backend import DockerRuntime, container_args, container_name
from xae.runtime.docker.hostwall import HostWall


def spec(**overrides: Any) -> InstanceSpec:
    values: dict[str, Any] = dict(
        app="shop",
        process="web",
        release=3,
        image="xae/shop:b7",
        command="gunicorn app:app",
        env={"GREETING": "hi"},
        port=5000,
        memory_bytes=256 * 1024**2,
        cpus=0.5,
        pids_limit=128,
        spec_hash="h1",
        tmp_bytes=32 * 1024**2,
    )
    values.update(overrides)
    return InstanceSpec(**values)


def api_error(status: int, explanation: str = "refused") -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"{status}", response=response, explanation=explanation)


class FakeContainer:
    def __init__(self, engine: FakeEngine, cid: str, kwargs: dict[str, Any]) -> None:
        self.engine, self.id, self.kwargs = engine, cid, kwargs
        self.status = "created"
        self.attrs: dict[str, Any] = {}

    def start(self) -> None:
        if self.engine.fail_start is not None:
            raise self.engine.fail_start
        self.status = "running"

    def reload(self) -> None:
        network = self.kwargs["network"]
        self.attrs = {
            "Config": {"Labels": self.kwargs["labels"]},
            "State": {"Status": self.status},
            "NetworkSettings": {"Networks": {network: {"IPAddress": "172.30.0.2"}}},
        }

    def stop(self, timeout: int) -> None:
        self.engine.calls.append(("stop", self.id, timeout))
        self.status = "exited"

    def remove(self, force: bool) -> None:
        self.engine.calls.append(("remove", self.id))
        self.engine.containers_by_id.pop(self.id, None)

    def logs(self, **kwargs: Any) -> Iterator[bytes]:
        return iter([b"2024-05-01T12:00:00Z one\n2024-05-01T12:00:01Z tw", b"o\n"])

    def summary(self) -> dict[str, Any]:
        network = self.kwargs["network"]
        return {
            "Id": self.id,
            "Names": ["/" + self.kwargs["name"]],
            "Labels": self.kwargs["labels"],
            "State": self.status,
            "Created": 1714564800,
            "NetworkSettings": {"Networks": {network: {"IPAddress": "172.30.0.2"}}},
        }


class FakeNetwork:
    def __init__(self, engine: FakeEngine, name: str) -> None:
        self.engine, self.name = engine, name

    def remove(self) -> None:
        self.engine.calls.append(("network.remove", self.name))
        self.engine.networks_by_name.pop(self.name, None)


class FakeImage:
    def __init__(self, image_id: str, labels: dict[str, str]) -> None:
        self.id, self.labels = image_id, labels


def _matches(labels: dict[str, str], filters: list[str]) -> bool:
    """Docker's label filters: `key=value`, or a bare `key` (the label is there)."""
    return all(
        labels.get(f.split("=", 1)[0]) == f.split("=", 1)[1] if "=" in f else f in labels
        for f in filters
    )


class FakeEngine:
    """The parts of `docker.DockerClient` the runtime uses, over dicts; every call recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.containers_by_id: dict[str, FakeContainer] = {}
        self.networks_by_name: dict[str, FakeNetwork] = {}
        self.images_by_id: dict[str, FakeImage] = {}
        self.local_images: set[str] = {"xae/shop:b7"}
        self.tags_of: dict[str, list[str]] = {}
        """An image's tags besides the reference it is known by."""
        self.fail_tag: Exception | None = None
        self.pull_lines: list[dict[str, Any]] = [{"status": "Pulling"}]
        self.fail_create: Exception | None = None
        self.fail_start: Exception | None = None
        self._created = 0

    # containers ----------------------------------------------------------------------------
    def create(self, **kwargs: Any) -> FakeContainer:
        self.calls.append(("create", kwargs["name"]))
        if self.fail_create is not None:
            raise self.fail_create
        self._created += 1
        container = FakeContainer(self, f"c{self._created}", kwargs)
        self.containers_by_id[container.id] = container
        return container

    def get(self, cid: str) -> FakeContainer:
        if cid not in self.containers_by_id:
            raise docker.errors.NotFound(f"no such container {cid}")
        return self.containers_by_id[cid]

    # api -----------------------------------------------------------------------------------
    def ping(self) -> bool:
        return True

    def containers_list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return [
            c.summary()
            for c in self.containers_by_id.values()
            if _matches(c.kwargs["labels"], filters["label"])
        ]

    def inspect_image(self, image: str) -> dict[str, Any]:
        if image not in self.local_images:
            raise docker.errors.ImageNotFound(f"no such image {image}")
        return {"Id": image, "RepoTags": [image, *self.tags_of.get(image, [])]}

    def tag(self, image: str, repository: str, tag: str) -> bool:
        self.calls.append(("tag", image, f"{repository}:{tag}"))
        if self.fail_tag is not None:
            raise self.fail_tag
        self.tags_of.setdefault(image, []).append(f"{repository}:{tag}")
        return True

    def pull(self, image: str, stream: bool, decode: bool) -> Iterator[dict[str, Any]]:
        self.calls.append(("pull", image))
        if not any("error" in line for line in self.pull_lines):
            self.local_images.add(image)
        return iter(self.pull_lines)

    # networks and images (`list` is shared: the runtime calls it with `names` or `filters`)
    def list(
        self, names: list[str] | None = None, filters: dict[str, list[str]] | None = None
    ) -> list[Any]:
        if names is not None:
            return [self.networks_by_name[n] for n in names if n in self.networks_by_name]
        assert filters is not None
        return [i for i in self.images_by_id.values() if _matches(i.labels, filters["label"])]

    def remove_image(self, image_id: str, force: bool) -> None:
        self.calls.append(("image.remove", image_id))
        self.images_by_id.pop(image_id, None)


class FakeClient:
    """`docker.DockerClient`'s shape: `.containers`, `.networks`, `.images`, `.api`."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.containers = engine
        self.api = _Api(engine)
        self.networks = _Networks(engine)
        self.images = _Images(engine)

    def ping(self) -> bool:
        return True


class _Api:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.inspect_image = engine.inspect_image
        self.pull = engine.pull
        self.tag = engine.tag

    def containers(self, all: bool, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return self.engine.containers_list(filters)

    def networks(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            {"Id": f"{n.name[-6:]}0123456789abcdef", "Name": n.name, "Options": {}}
            for n in self.engine.list(names=names)
        ]


class _Networks:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def list(self, names: list[str]) -> list[FakeNetwork]:
        return self.engine.list(names=names)

    def create(self, name: str, **kwargs: Any) -> FakeNetwork:
        self.engine.calls.append(("network.create", name, kwargs["labels"]))
        network = self.engine.networks_by_name[name] = FakeNetwork(self.engine, name)
        return network


class _Images:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def list(self, filters: dict[str, list[str]]) -> list[FakeImage]:
        return self.engine.list(filters=filters)

    def remove(self, image_id: str, force: bool) -> None:
        self.engine.remove_image(image_id, force)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def runtime(engine: FakeEngine) -> DockerRuntime:
    return DockerRuntime(FakeClient(engine), plane="p1")


# -- container_args: pure ------------------------------------------------------------------


def test_a_container_runs_hardened_as_the_app_user_within_its_limits() -> None:
    args = container_args(spec(), plane="p1", name="xae-p1-shop-web-v3-abc123")
    assert args["user"] == f"{APP_UID}:{APP_UID}"
    assert args["cap_drop"] == ["ALL"]
    assert args["security_opt"] == ["no-new-privileges:true"]
    assert args["init"] is True
    assert (args["mem_limit"], args["memswap_limit"]) == (256 * 1024**2, 256 * 1024**2)
    assert args["nano_cpus"] == 500_000_000
    assert args["pids_limit"] == 128
    assert args["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,size={32 * 1024**2},mode=1777"}
    assert args["network"] == "xae-p1-shop"
    assert "ports" not in args  # never published: the router reaches the bridge address


def test_a_container_gets_port_and_config_and_runs_the_line_under_the_supervisor() -> None:
    args = container_args(spec(), plane="p1", name="n")
    assert args["environment"] == {"GREETING": "hi", "PORT": "5000"}
    assert args["command"] == shell_command("gunicorn app:app")
    worker = container_args(spec(process="worker", port=None, command=""), plane="p1", name="n")
    assert worker["command"] is None  # the image's own CMD
    assert "PORT" not in worker["environment"]


def test_a_containers_labels_are_the_ones_list_and_clean_up_filter_on() -> None:
    labels = container_args(spec(), plane="p1", name="n")["labels"]
    assert labels[LABEL_MANAGED] == "1"
    assert (labels[LABEL_PLANE], labels[LABEL_APP]) == ("p1", "shop")
    assert (labels["xae.process"], labels["xae.release"], labels["xae.spec"]) == ("web", "v3", "h1")


def test_container_names_carry_the_plane_only_off_the_default_one() -> None:
    assert container_name("default", spec(), "abc") == "xae-shop-web-v3-abc"
    assert container_name("p1", spec(), "abc") == "xae-p1-shop-web-v3-abc"


def test_the_same_spec_gives_the_same_container() -> None:
    first = container_args(spec(), plane="p", name="n")
    assert first == container_args(spec(), plane="p", name="n")


# -- the runtime on a fake engine ------------------------------------------------------------


def test_start_creates_the_network_then_the_container_and_reports_its_bridge_address(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    instance = runtime.start(spec())
    assert [c[0] for c in engine.calls] == ["network.create", "create"]
    assert engine.calls[0][1:] == (
        "xae-p1-shop",
        {LABEL_MANAGED: "1", LABEL_PLANE: "p1", LABEL_APP: "shop"},
    )
    assert (instance.app, instance.process, instance.release) == ("shop", "web", 3)
    assert (instance.address, instance.port, instance.state) == ("172.30.0.2", 5000, "running")
    assert instance.name.startswith("xae-p1-shop-web-v3-")
    runtime.start(spec())
    assert [c[0] for c in engine.calls].count("network.create") == 1  # made once


def test_start_pulls_a_missing_image_first(runtime: DockerRuntime, engine: FakeEngine) -> None:
    runtime.start(spec(image="registry.example/shop:1"))
    assert ("pull", "registry.example/shop:1") in engine.calls
    assert [c[0] for c in engine.calls][-1] == "create"


def test_an_image_pulled_here_is_marked_for_garbage_collection_and_one_found_is_not(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    runtime.start(spec(image="registry.example/shop:1"))
    marker = pulled_marker("p1", "registry.example/shop:1")
    assert ("tag", "registry.example/shop:1", marker) in engine.calls
    runtime.start(spec())  # xae/shop:b7 was on the engine before: the operator's, unmarked
    assert [c for c in engine.calls if c[0] == "tag"] == [
        ("tag", "registry.example/shop:1", marker)
    ]


def test_an_image_another_plane_pulled_is_marked_for_this_one_too(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    engine.local_images.add("nginx:1.27")
    engine.tags_of["nginx:1.27"] = [pulled_marker("p2", "nginx:1.27")]
    runtime.start(spec(image="nginx:1.27"))
    runtime.start(spec(image="nginx:1.27"))
    marked = [c for c in engine.calls if c[0] == "tag"]
    assert marked == [("tag", "nginx:1.27", pulled_marker("p1", "nginx:1.27"))]  # once


def test_an_image_that_cannot_be_marked_still_runs(
    runtime: DockerRuntime, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine.fail_tag = api_error(500, "tag refused")
    instance = runtime.start(spec(image="registry.example/shop:1"))
    assert instance.state == "running"
    assert "could not mark the pulled image registry.example/shop:1" in caplog.text


def test_a_failed_pull_says_what_kind_never_the_registrys_body(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    engine.pull_lines = [{"error": "unauthorized: <html>secret token abc</html>"}]
    with pytest.raises(RuntimeFailure) as failed:
        runtime.start(spec(image="registry.example/shop:1"))
    assert "secret token" not in str(failed.value) and "<html>" not in str(failed.value)
    assert not any(c[0] == "create" for c in engine.calls)


def test_a_refused_start_is_a_runtime_failure(runtime: DockerRuntime, engine: FakeEngine) -> None:
    engine.fail_start = api_error(500, "no space left on device")
    with pytest.raises(RuntimeFailure, match="no space left on device"):
        runtime.start(spec())
    engine.fail_create = docker.errors.ImageNotFound("gone")
    with pytest.raises(RuntimeFailure, match="deploy the app again"):
        runtime.start(spec())


def test_list_sees_only_this_planes_containers_of_the_app(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    mine = runtime.start(spec())
    runtime.start(spec(app="blog"))
    other_plane = DockerRuntime(FakeClient(engine), plane="p2")
    other_plane.start(spec())
    assert [i.id for i in runtime.list_instances("shop")] == [mine.id]
    assert {i.app for i in runtime.list_instances()} == {"shop", "blog"}
    listed = runtime.list_instances("shop")[0]
    assert listed.memory_bytes == 256 * 1024**2 and listed.cpus == 0.5
    assert listed.started_at is not None


def test_stop_gives_the_grace_then_removes_and_tolerates_a_gone_container(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    instance = runtime.start(spec())
    runtime.stop(instance, grace=7.5)
    assert engine.calls[-2:] == [("stop", instance.id, 8), ("remove", instance.id)]
    runtime.stop(instance, grace=1)  # already gone: nothing to do, no error
    assert runtime.list_instances() == []


def test_stop_of_a_container_being_removed_is_not_an_error(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    instance = runtime.start(spec())

    def busy(force: bool) -> None:
        raise api_error(409, "removal in progress")

    engine.containers_by_id[instance.id].remove = busy  # type: ignore[method-assign]
    runtime.stop(instance, grace=0)


def test_remove_app_removes_its_containers_network_and_built_images_only(
    runtime: DockerRuntime, engine: FakeEngine
) -> None:
    shop = runtime.start(spec())
    blog = runtime.start(spec(app="blog"))
    # As the builder labels them (xae.builder.build): the app and the plane.
    engine.images_by_id["i-shop"] = FakeImage("i-shop", {LABEL_APP: "shop", LABEL_PLANE: "p1"})
    engine.images_by_id["i-blog"] = FakeImage("i-blog", {LABEL_APP: "blog", LABEL_PLANE: "p1"})
    engine.images_by_id["i-p2"] = FakeImage("i-p2", {LABEL_APP: "shop", LABEL_PLANE: "p2"})

    runtime.remove_app("shop")

    assert [i.id for i in runtime.list_instances()] == [blog.id]
    assert ("remove", shop.id) in engine.calls
    assert set(engine.networks_by_name) == {"xae-p1-blog"}
    assert set(engine.images_by_id) == {"i-blog", "i-p2"}


def test_logs_come_back_as_whole_lines(runtime: DockerRuntime) -> None:
    instance = runtime.start(spec())
    assert list(runtime.logs(instance, tail=2)) == [
        "2024-05-01T12:00:00Z one",
        "2024-05-01T12:00:01Z two",
    ]
    gone = Instance(
        id="nope",
        name="x",
        app="shop",
        process="web",
        release=1,
        spec_hash="",
        state=InstanceState.EXITED,
        address=None,
        port=None,
        memory_bytes=0,
        cpus=0,
    )
    assert list(runtime.logs(gone)) == []


def test_a_read_only_process_gets_a_read_only_root_filesystem_and_keeps_a_writable_tmp() -> None:
    args = container_args(spec(read_only=True), plane="p1", name="n")
    assert args["read_only"] is True
    assert args["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,size={32 * 1024**2},mode=1777"}
    assert container_args(spec(), plane="p1", name="n")["read_only"] is False


# -- the host wall: app networks fenced off the host ---------------------------------------


class FakeIptables:
    """`subprocess.run` for iptables: remembers the INPUT jumps, records every command."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.jumps: list[list[str]] = []

    def __call__(self, command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        op, rule = (command[2], command[3:]) if command[0] == "iptables" else ("restore", [])
        code = 0
        if op == "-C":
            code = 0 if rule in self.jumps else 1
        elif op == "-I":
            self.jumps.append([rule[0], *rule[2:]])
        elif op == "-D":
            self.jumps.remove(rule)
        return subprocess.CompletedProcess(command, code, "", "")


def test_an_app_network_is_fenced_off_the_host_once_and_released_on_removal(
    engine: FakeEngine,
) -> None:
    iptables = FakeIptables()
    wall = HostWall.for_plane("p1", [8080], run=iptables)
    runtime = DockerRuntime(FakeClient(engine), plane="p1", wall=wall)

    runtime.start(spec())
    runtime.start(spec())

    bridge = "br-1-shop012345"  # `br-` and the first 12 characters of the network id
    assert iptables.jumps == [
        ["INPUT", "-i", bridge, "-j", wall.chain],
        ["DOCKER-USER", "-i", bridge, "!", "-o", bridge, "-j", wall.forward_chain],
    ]
    restores = [c for c in iptables.commands if c[0] == "iptables-restore"]
    assert len(restores) == 1  # the chain is written once per process
    runtime.remove_app("shop")
    assert iptables.jumps == []
    assert "xae-p1-shop" not in engine.networks_by_name


# -- who a container runs as -----------------------------------------------------------------


class _EngineSaying(FakeClient):
    """A fake client whose `docker info` lists `options` as its security options."""

    def __init__(self, engine: FakeEngine, options: list[str]) -> None:
        super().__init__(engine)
        self.options = options
        self.asked = 0

    def info(self) -> dict[str, Any]:
        self.asked += 1
        return {"SecurityOptions": self.options}


def test_a_container_runs_as_its_images_user_and_its_label_says_so() -> None:
    args = container_args(spec(run_as="101:101"), plane="p1", name="n")
    assert args["user"] == "101:101"
    assert args["labels"]["xae.user"] == "101"
    assert args["cap_drop"] == ["ALL"]


def test_a_root_image_runs_as_root_inside_with_every_other_confinement_item() -> None:
    root, app = (container_args(spec(run_as=r), plane="p1", name="n") for r in (ROOT, APP_RUN_AS))
    assert root["user"] == "0:0"
    assert root["labels"]["xae.user"] == "root (userns)"
    different = {k for k in root if root[k] != app[k]}
    assert different == {"user", "labels", "cap_add"}
    # Only what an image made for root needs to drop to its own users, inside the namespace.
    assert root["cap_add"] == ["CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER"]
    assert (root["cap_drop"], app["cap_add"]) == (["ALL"], None)


def test_a_root_image_is_refused_by_an_engine_that_does_not_remap(engine: FakeEngine) -> None:
    runtime = DockerRuntime(_EngineSaying(engine, ["name=seccomp,profile=default"]), plane="p1")
    with pytest.raises(RuntimeFailure) as caught:
        runtime.start(spec(run_as=ROOT))
    assert "userns-remap" in caught.value.message and "USER" in caught.value.message
    assert engine.calls == []  # nothing created, not even the network


def test_a_root_image_starts_on_an_engine_that_remaps_which_is_asked_before_each(
    engine: FakeEngine,
) -> None:
    client = _EngineSaying(engine, ["name=seccomp,profile=default", "name=userns"])
    runtime = DockerRuntime(client, plane="p1")
    first = runtime.start(spec(run_as=ROOT))
    runtime.start(spec(run_as=ROOT))
    runtime.start(spec())
    assert first.user == "root (userns)"
    assert client.asked == 2  # each root start, never the app user's


def _with_user(engine: FakeEngine, user: str) -> None:
    """Make the engine's images say `USER user` in their config."""
    inspect = engine.inspect_image

    def with_user(image: str) -> dict[str, Any]:
        return {**inspect(image), "Config": {"User": user}}

    engine.inspect_image = with_user  # type: ignore[method-assign]


def test_an_image_deployed_as_is_runs_as_the_user_its_config_names(engine: FakeEngine) -> None:
    _with_user(engine, "2345:2345")
    runtime = DockerRuntime(FakeClient(engine), plane="p1")
    started = runtime.start(spec(run_as=IMAGE_USER))
    assert started.user == "2345"
    assert started.spec_hash == "h1"  # the plan's hash: the instance is not seen as outdated


def test_an_image_deployed_as_is_without_a_user_needs_an_engine_that_remaps(
    engine: FakeEngine,
) -> None:
    _with_user(engine, "")
    runtime = DockerRuntime(_EngineSaying(engine, []), plane="p1")
    with pytest.raises(RuntimeFailure) as caught:
        runtime.start(spec(run_as=IMAGE_USER))
    assert "userns-remap" in caught.value.message
    assert not [c for c in engine.calls if c[0] != "pull"]
