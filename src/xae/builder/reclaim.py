"""Garbage collection on the Docker engine (and the cluster's registry): the `Reclaimer`.

The builds run on this engine on both backends, so the app images, the build cache and the
stopped containers the Code Center leaves are reclaimed here; which images go is decided by
the control plane from the store (`xae.domain.gc`, `xae.control.gc`), never here.

What it must never do: touch an object without this plane's labels (`xae.domain.policy`):
other planes' images, the base and stack images every build starts from, and everything else on
the engine stay. Registry deletes name one manifest by the digest the registry itself reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, TypedDict, cast

import docker
import docker.errors
import httpx

from xae.domain.gc import PULLED_REPOSITORY, AppImage, Collected, PulledImage
from xae.domain.policy import LABEL_APP, LABEL_MANAGED, LABEL_PLANE, is_oneoff
from xae.errors import RuntimeFailure, RuntimeUnavailable

log = logging.getLogger("xae.builder.reclaim")

APP_REPOSITORY = "xae/app-"
"""Every app image's repository starts so (`xae.builder.build.image_ref`)."""
BASE_REPOSITORIES = ("xae/rootfs:", "xae/base:", "xae/stack-")
"""The images every build starts from: counted in the disk usage, never collected here."""
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


class _DfImage(TypedDict, total=False):
    Id: str
    RepoTags: list[str] | None
    Labels: dict[str, str] | None
    Size: int
    SharedSize: int


class _DfCache(TypedDict, total=False):
    Size: int


class _ContainerRow(TypedDict, total=False):
    Id: str
    Names: list[str]
    Created: int
    State: str
    Labels: dict[str, str]


def _prunable(labels: dict[str, str], apps: frozenset[str]) -> bool:
    """A stopped one-off, or a leftover of an app that no longer exists. A stopped instance of
    a live app is the runtime's: it may be between an OOM kill or a crash and its restart (in
    the engine's back-off), and its log is what says why; the reconciler replaces or removes
    it."""
    return is_oneoff(labels) or labels.get(LABEL_APP) not in apps


def _own_size(row: _DfImage) -> int:
    size, shared = int(row.get("Size") or 0), int(row.get("SharedSize") or 0)
    return max(0, size - max(0, shared))


def split_registry(ref: str) -> tuple[str, str, str]:
    """`host:port/repo/name:tag` → (host:port, repo/name, tag)."""
    host, _, rest = ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    if not host or not repository or not tag:
        raise ValueError(f"not a registry reference: {ref}")
    return host, repository, tag


_DF_LOCK = threading.Lock()
_DF_BUSY = "a disk usage operation is already running"
_DF_WAIT = 60.0
"""Seconds to wait out another client's disk usage count before giving up."""


def _df_failed(error: Exception) -> RuntimeUnavailable:
    return RuntimeUnavailable(
        f"asking the Docker engine for its disk usage failed: {str(error)[:200]}"
    )


class DockerReclaimer:
    """`xae.domain.gc.Reclaimer` on one Docker engine, for one plane."""

    active = True

    def __init__(
        self, client: docker.DockerClient, plane: str, registry: str | None = None
    ) -> None:
        self.client = client
        self.plane = plane
        self.registry = registry

    def _df(self) -> dict[str, Any]:
        """The engine's disk usage. The engine runs one such count at a time and refuses a
        second ("a disk usage operation is already running"): this process asks one at a time,
        and waits out one that someone else (another plane, `docker system df`) runs."""
        deadline = time.monotonic() + _DF_WAIT
        with _DF_LOCK:
            while True:
                try:
                    return cast(dict[str, Any], self.client.api.df())
                except docker.errors.APIError as e:
                    if _DF_BUSY not in str(e) or time.monotonic() > deadline:
                        raise _df_failed(e) from e
                except (docker.errors.DockerException, OSError) as e:
                    raise _df_failed(e) from e
                time.sleep(0.5)

    def _plane_images(self, df: dict[str, Any]) -> list[_DfImage]:
        rows = cast(list[_DfImage], df.get("Images") or [])
        return [r for r in rows if (r.get("Labels") or {}).get(LABEL_PLANE) == self.plane]

    def app_images(self, app: str | None = None) -> list[AppImage]:
        found = []
        for row in self._plane_images(self._df()):
            owner = (row.get("Labels") or {}).get(LABEL_APP)
            if not owner or (app is not None and owner != app):
                continue
            tags = [
                t for t in row.get("RepoTags") or [] if _repository(t) == APP_REPOSITORY + owner
            ]
            # An image with several tags (local and registry) shares its bytes: counted once.
            for index, tag in enumerate(sorted(tags)):
                found.append(AppImage(owner, tag, _own_size(row) if index == 0 else 0))
        return found

    def pulled_images(self) -> list[PulledImage]:
        prefix = f"{PULLED_REPOSITORY}{self.plane}:"
        try:
            # Every image, filtered here: the engine's `reference` filter would also leave
            # the image's other tags (the references it was pulled by) out of each row.
            rows = cast(list[dict[str, Any]], self.client.api.images())
        except (docker.errors.DockerException, OSError) as e:
            raise RuntimeUnavailable(f"listing the pulled images failed: {str(e)[:200]}") from e
        found = []
        for row in rows:
            refs = {*(row.get("RepoTags") or []), *(row.get("RepoDigests") or [])}
            refs -= {"<none>:<none>", "<none>@<none>"}
            mine = frozenset(r for r in refs if r.startswith(prefix))
            if not mine:
                continue
            size = max(0, int(row.get("Size") or 0))
            found.append(PulledImage(str(row.get("Id")), mine, frozenset(refs - mine), size))
        return found

    def remove_image(self, ref: str) -> None:
        try:
            self.client.api.remove_image(ref)
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError as e:
            raise RuntimeFailure(f"removing the image {ref} failed: {e.explanation}") from e

    def prune(
        self,
        collected: Collected,
        *,
        dry_run: bool,
        container_age: float,
        cache_bound: int,
        apps: frozenset[str],
    ) -> None:
        plane = f"{LABEL_PLANE}={self.plane}"
        api = self.client.api
        try:
            dangling = api.images(filters={"dangling": True, "label": plane}, quiet=True)
            collected.dangling += len(dangling)
            if dangling and not dry_run:
                pruned = api.prune_images(filters={"dangling": True, "label": plane})
                collected.reclaimed_bytes += int(pruned.get("SpaceReclaimed") or 0)
            rows = cast(
                list[_ContainerRow],
                api.containers(
                    all=True,
                    filters={
                        "label": [f"{LABEL_MANAGED}=1", plane],
                        "status": ["exited", "created", "dead"],
                    },
                ),
            )
        except (docker.errors.DockerException, OSError) as e:
            raise RuntimeUnavailable(f"the Docker engine does not answer: {str(e)[:200]}") from e
        cutoff = time.time() - container_age
        for row in rows:
            if int(row.get("Created") or 0) > cutoff:
                continue  # just finished: its logs may still be wanted
            if not _prunable(row.get("Labels") or {}, apps):
                continue
            name = (row.get("Names") or ["/?"])[0].lstrip("/")
            collected.containers.append(name)
            if not dry_run:
                try:
                    api.remove_container(row["Id"], v=True)
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as e:
                    collected.errors.append(f"container {name}: {e.explanation}")
        self.prune_build_cache(collected, bound=cache_bound, dry_run=dry_run)

    def prune_build_cache(self, collected: Collected, *, bound: int, dry_run: bool) -> None:
        """Shrink the engine's build cache (BuildKit's; the classic builder keeps none) to at
        most `bound` bytes, least recently used first. The cache is the engine's, not one
        plane's: the bound is for the whole engine."""
        entries = cast(list[_DfCache], self._df().get("BuildCache") or [])
        total = sum(int(e.get("Size") or 0) for e in entries)
        if total <= bound:
            return
        collected.build_cache += len(entries)
        if dry_run:
            return
        try:
            result = self.client.api.prune_builds(keep_storage=bound)
        except docker.errors.APIError as e:
            collected.errors.append(f"build cache: {e.explanation}")
            return
        collected.reclaimed_bytes += int((result or {}).get("SpaceReclaimed") or 0)

    def delete_registry_tag(self, ref: str) -> None:
        host, repository, tag = split_registry(ref)
        base = f"http://{host}/v2/{repository}/manifests"
        try:
            with httpx.Client(timeout=10) as http:
                head = http.head(f"{base}/{tag}", headers={"Accept": MANIFEST_TYPES})
                if head.status_code == 404:
                    return
                digest = head.headers.get("Docker-Content-Digest", "")
                if head.status_code != 200 or not digest.startswith("sha256:"):
                    raise RuntimeFailure(
                        f"the registry {host} did not give the digest of {ref} "
                        f"(HTTP {head.status_code})"
                    )
                gone = http.delete(f"{base}/{digest}")
        except httpx.HTTPError as e:
            raise RuntimeFailure(
                f"the registry {host} does not answer ({type(e).__name__}): is it running?"
            ) from e
        if gone.status_code == 405:
            raise RuntimeFailure(
                f"the registry {host} does not allow deletes: set `storage: delete: enabled: "
                "true` in its config (scripts/k8s-local/up.sh does)"
            )
        if gone.status_code not in (202, 404):
            raise RuntimeFailure(
                f"the registry {host} refused to delete {ref} (HTTP {gone.status_code})"
            )

    def disk_usage(self) -> tuple[int, int, int]:
        df = self._df()
        mine = self._plane_images(df)
        # The base and stack images, and those pulled for this plane's image deploys.
        ours = (*BASE_REPOSITORIES, f"{PULLED_REPOSITORY}{self.plane}:")
        base = [
            r
            for r in cast(list[_DfImage], df.get("Images") or [])
            if any(t.startswith(ours) for t in r.get("RepoTags") or [])
        ]
        rows = {r.get("Id"): r for r in [*mine, *base]}.values()
        # Layers shared between images count once: each image's own bytes, plus the largest
        # shared part (the base layers every app image stands on).
        images = sum(_own_size(r) for r in rows) + max(
            (max(0, int(r.get("SharedSize") or 0)) for r in rows), default=0
        )
        cache = sum(
            int(e.get("Size") or 0) for e in cast(list[_DfCache], df.get("BuildCache") or [])
        )
        return images, cache, self._log_bytes()

    def _log_bytes(self) -> int:
        """The json-file logs of this plane's containers, rotated files included."""
        total = 0
        try:
            rows = self.client.api.containers(
                all=True, filters={"label": [f"{LABEL_MANAGED}=1", f"{LABEL_PLANE}={self.plane}"]}
            )
            for row in rows:
                with contextlib.suppress(docker.errors.NotFound):
                    path = self.client.api.inspect_container(row["Id"]).get("LogPath") or ""
                    if path:
                        total += _files_size(Path(path))
        except (docker.errors.DockerException, OSError) as e:
            raise RuntimeUnavailable(f"the Docker engine does not answer: {str(e)[:200]}") from e
        return total


def _repository(tag: str) -> str:
    """`xae/app-x:b1` → `xae/app-x`; `host:5000/xae/app-x:b1` → `xae/app-x` (the registry
    host is left out: a pushed build is tagged both ways)."""
    repository = tag.rpartition(":")[0]
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return repository


def _files_size(path: Path) -> int:
    """Bytes of `path` and its rotations (`path.1`, ...); 0 for what cannot be read."""
    total = 0
    for candidate in [path, *path.parent.glob(path.name + ".*")] if path.parent.exists() else []:
        with contextlib.suppress(OSError):
            total += os.stat(candidate).st_size
    return total
