"""The image-deploy gate with the store behind it (which app built what) and the machine's own
addresses read from the kernel's tables (canned here, as this machine prints them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, add_build

from xae.codecenter.deploy import DeployPipeline
from xae.codecenter.image_policy import (
    internal_ipv4_networks,
    internal_ipv6_networks,
    local_ipv4,
    local_ipv6,
    platform_addresses,
    vet_image,
)
from xae.control.apps import create_app
from xae.domain.deploy_events import DeployEvent
from xae.errors import ImageNotAllowed, RegistryNotAllowed
from xae.store.models import App, Build, Release

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
br-6ad649cc7262\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
xae0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 172.17.0.1
        /32 host LOCAL
     |-- 192.0.2.0
        /24 link UNICAST
     |-- 192.0.2.2
        /32 host LOCAL
"""
IF_INET6 = """\
fe80000000000000004226fffebad45b 05 40 20 80  docker0
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
"""
_Z = "0" * 32
IPV6_ROUTE = f"""\
fd000000000000000000000000000000 40 {_Z} 00 {_Z} 00000100 00000001 00000000 00000001     eth0
fd0000000000a0000000000000000000 40 {_Z} 00 {_Z} 00000100 00000001 00000000 00000001  docker0
fe800000000000000000000000000000 40 {_Z} 00 {_Z} 00000100 00000001 00000000 00000001  docker0
{_Z} 00 {_Z} 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
ff000000000000000000000000000000 08 {_Z} 00 {_Z} 00000100 00000001 00000000 00000001  docker0
{_Z} 00 {_Z} 00 {_Z} ffffffff 00000001 00000000 00200200       lo
"""


def test_internal_networks_are_the_attached_ones_but_the_way_out() -> None:
    assert [str(n) for n in internal_ipv4_networks(ROUTE)] == [
        "172.17.0.0/16",
        "172.18.0.0/16",
        "10.88.0.0/16",
    ]
    assert [str(n) for n in internal_ipv6_networks(IPV6_ROUTE)] == ["fd00:0:0:a000::/64"]


def test_this_machines_own_addresses_are_read_from_the_kernel() -> None:
    assert [str(a) for a in local_ipv4(FIB_TRIE)] == ["127.0.0.1", "172.17.0.1", "192.0.2.2"]
    assert [str(a) for a in local_ipv6(IF_INET6)] == ["::1", "fd00::2", "fe80::42:26ff:feba:d45b"]


def test_the_platform_is_this_machine_plus_the_api_and_router_hosts(
    world: World, tmp_path: Path
) -> None:
    for name, text in [
        ("route", ROUTE),
        ("fib_trie", FIB_TRIE),
        ("if_inet6", IF_INET6),
        ("ipv6_route", IPV6_ROUTE),
    ]:
        (tmp_path / name).write_text(text)
    settings = world.platform.settings.model_copy(
        update={"api_host": "198.51.100.1", "router_host": "0.0.0.0"}
    )
    platform = platform_addresses(settings, proc=tmp_path)
    assert ipaddress.ip_address("198.51.100.1") in platform.addresses
    assert ipaddress.ip_address("192.0.2.2") in platform.addresses
    assert ipaddress.ip_network("10.88.0.0/16") in platform.networks


def test_missing_kernel_tables_leave_only_the_address_classes(world: World, tmp_path: Path) -> None:
    platform = platform_addresses(world.platform.settings, proc=tmp_path / "none")
    assert platform.networks == ()


@pytest.fixture
def apps(world: World) -> dict[str, int]:
    create_app(world.platform, world.user("alice"), "shop")
    create_app(world.platform, world.user("alice"), "bank")
    add_build(world.platform, "shop", "xae/app-shop:b1")
    add_build(world.platform, "bank", "xae/app-bank:b2")
    with world.db.session() as session:
        return {a.name: a.id for a in session.scalars(select(App))}


def _vet(world: World, app: str, app_id: int, image: str) -> str:
    with world.db.session() as session:
        return vet_image(session, world.platform.settings, app, app_id, image)


def test_an_app_may_run_its_own_build_but_not_another_apps(
    world: World, apps: dict[str, int]
) -> None:
    assert _vet(world, "shop", apps["shop"], "docker.io/xae/app-shop:b1") == "xae/app-shop:b1"
    for image in ("xae/app-bank:b2", "docker.io/xae/app-bank:b2", "xae/app-shop:b2"):
        with pytest.raises(ImageNotAllowed):
            _vet(world, "shop", apps["shop"], image)


def test_an_image_deploy_of_someone_elses_build_confers_no_right_to_it(
    world: World, apps: dict[str, int]
) -> None:
    """A row of stack `image` (say, recorded before this gate existed) is not a build."""
    with world.db.session() as session:
        session.add(
            Build(app_id=apps["shop"], status="succeeded", stack="image", image="xae/app-bank:b2")
        )
    with pytest.raises(ImageNotAllowed):
        _vet(world, "shop", apps["shop"], "xae/app-bank:b2")


def test_a_failed_build_is_not_an_image_the_app_may_run(world: World, apps: dict[str, int]) -> None:
    with world.db.session() as session:
        session.add(
            Build(app_id=apps["shop"], status="failed", stack="python", image="xae/app-shop:b9")
        )
    with pytest.raises(ImageNotAllowed):
        _vet(world, "shop", apps["shop"], "xae/app-shop:b9")


def test_a_pushed_build_is_run_from_the_registry_it_was_pushed_to(
    world: World, apps: dict[str, int]
) -> None:
    """The configured registry is on loopback here, and still fine for the app's own builds."""
    add_build(world.platform, "shop", "127.0.0.1:5000/xae/app-shop:b3")
    assert _vet(world, "shop", apps["shop"], "xae/app-shop:b3") == "127.0.0.1:5000/xae/app-shop:b3"
    assert (
        _vet(world, "shop", apps["shop"], "127.0.0.1:5000/xae/app-shop:b3")
        == "127.0.0.1:5000/xae/app-shop:b3"
    )
    with pytest.raises(RegistryNotAllowed):  # the same registry for anything else: no
        _vet(world, "shop", apps["shop"], "127.0.0.1:5000/library/nginx:1")


def test_the_pipeline_refuses_another_apps_image_when_the_api_is_bypassed(
    world: World, apps: dict[str, int]
) -> None:
    events: list[DeployEvent] = []
    with world.db.session() as session:
        shop = session.scalars(select(App).where(App.name == "shop")).one()
    with pytest.raises(ImageNotAllowed):
        DeployPipeline(world.platform).run_image(
            world.user(), shop, "xae/app-bank:b2", 5000, "", events.append
        )
    with pytest.raises(RegistryNotAllowed):
        DeployPipeline(world.platform).run_image(
            world.user(), shop, "127.0.0.1:8080/x:v1", 5000, "", events.append
        )
    assert events == []
    with world.db.session() as session:
        assert list(session.scalars(select(Release))) == []
        assert [b.image for b in session.scalars(select(Build).order_by(Build.id))] == [
            "xae/app-shop:b1",
            "xae/app-bank:b2",
        ]
    assert world.runtime.of("shop") == []
