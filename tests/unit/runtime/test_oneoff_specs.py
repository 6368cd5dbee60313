"""What a one-off is made of on each backend (pure): the same confinement as an instance, its
own label so it is never taken for an instance, no restart, and a deadline on kubernetes."""

from __future__ import annotations

from typing import Any

from xae.domain.policy import LABEL_ONEOFF
from xae.runtime.base import OneOffSpec
from xae.runtime.docker.backend import oneoff_args, oneoff_name
from xae.runtime.kubernetes import manifests as m


def spec(**overrides: Any) -> OneOffSpec:
    values: dict[str, Any] = dict(
        app="shop",
        release=7,
        image="xae/shop:b7",
        command="python migrate.py",
        env={"DATABASE_URL": "sqlite:////tmp/app.db"},
        kind="release",
        name="release-v7",
        memory_bytes=256 * 1024**2,
        cpus=0.5,
        pids_limit=128,
        timeout=90.5,
        owner="alice",
    )
    values.update(overrides)
    return OneOffSpec(**values)


def test_a_docker_one_off_is_confined_like_an_instance_on_the_apps_network() -> None:
    name = oneoff_name("t1", spec())
    args = oneoff_args(spec(), plane="t1", name=name)

    assert name == "xae-t1-shop-release-v7"
    assert args["user"] == "10001:10001"
    assert args["cap_drop"] == ["ALL"] and args["cap_add"] is None
    assert args["security_opt"] == ["no-new-privileges:true"]
    assert (args["mem_limit"], args["memswap_limit"]) == (256 * 1024**2, 256 * 1024**2)
    assert (args["pids_limit"], args["nano_cpus"]) == (128, 500_000_000)
    assert args["network"] == "xae-t1-shop"
    assert args["restart_policy"] == {"Name": "no"}
    assert args["environment"] == {"DATABASE_URL": "sqlite:////tmp/app.db"}  # no $PORT
    assert args["labels"][LABEL_ONEOFF] == "release"
    assert args["labels"]["xae.app"] == "shop" and args["labels"]["xae.plane"] == "t1"
    assert args["init"] is True


def test_a_kubernetes_one_off_is_a_job_that_never_retries_and_stops_at_its_timeout() -> None:
    job = m.oneoff_job("t1", "xae-t1-alice", spec())

    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == "shop-release-v7"
    assert job["metadata"]["labels"][m.ONEOFF] == "release"
    body = job["spec"]
    assert (body["backoffLimit"], body["activeDeadlineSeconds"]) == (0, 91)
    pod = body["template"]["spec"]
    # The app's labels: its NetworkPolicy (router-only ingress, blocked egress) applies.
    assert body["template"]["metadata"]["labels"][m.APP] == "shop"
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "shop-release-v7-env"}}]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert (context["runAsNonRoot"], context["runAsUser"]) == (True, 10001)
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": str(256 * 1024**2)}
    assert container["command"][-1] == "python migrate.py"


def test_a_kubernetes_one_offs_config_secret_is_not_one_the_app_prunes() -> None:
    secret = m.oneoff_secret("t1", "xae-t1-alice", spec())

    assert secret["stringData"] == {"DATABASE_URL": "sqlite:////tmp/app.db"}
    assert m.APP not in secret["metadata"]["labels"]
    assert secret["metadata"]["labels"][m.ONEOFF] == "release"
