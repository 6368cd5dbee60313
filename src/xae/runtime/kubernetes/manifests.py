"""An app's plan as Kubernetes objects. Pure: plain dicts in, plain dicts out, no client.

One function per kind, so the layers that come later (add-ons as StatefulSets, cron as
CronJobs, the release phase as a Job, quotas as ResourceQuota/LimitRange) each add a function
here and a line to `app_objects`. Objects are plain manifests, as a user would write them in
YAML; the backend server-side-applies them with field manager `xae`.

Mapping of what the docker backend enforces:
- the owner's namespace enforces Pod Security `restricted` (the hardened container settings
  are then required by the cluster, not only requested by xae);
- a Deployment per process type: limits from `ps:resize`, `maxUnavailable: 0`, readiness,
  startup and liveness probes from the app's health check, uid 10001, no capabilities;
- config vars in an immutable Secret named by their hash (a config change is a new Secret and
  a new pod template, so it rolls out like any release and rolls back with it);
- a NetworkPolicy admitting traffic only from the router, and letting pods connect nowhere
  in the blocked ranges (`app_blocked_cidrs`: the node, other pods, the LAN) but to DNS;
- a headless Service for the web process, whose EndpointSlices feed the router;
- while a weighted split is on, one more Deployment per other release in it (process label
  `web-v<N>`, so no two Deployments select the same pods) and one more headless Service
  labelled with that release, so its EndpointSlices tell the router which release they serve.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from xae.domain.runas import ROOT, gid_of, uid_of
from xae.runtime.base import AppPlan, HealthCheck, OneOffSpec, ProcessPlan, ScheduledSpec
from xae.runtime.command import shell_command

Manifest = dict[str, Any]

GROUP = "xae.dev"
PLANE = f"{GROUP}/plane"
APP = f"{GROUP}/app"
PROCESS = f"{GROUP}/process"
RELEASE = f"{GROUP}/release"
SPEC = f"{GROUP}/spec"
OWNER = f"{GROUP}/owner"
ONEOFF = f"{GROUP}/oneoff"
"""On one-off Jobs, their pods and Secrets (release phase, cron runs): their kind. The watch
cache leaves them out: they are not instances."""
CRON = f"{GROUP}/cron"
"""On an app's CronJobs, the Jobs they start and their pods: the cron job's name; on the
app's cron config Secrets: empty. One-off pruning at start leaves them: the cluster runs them."""
CRON_TTL = 3600
"""Seconds a finished cron Job stays (its output with it) for the control plane to record."""
CRON_HISTORY = 3
"""Finished Jobs a CronJob keeps, of each outcome."""
MANIFEST = f"{GROUP}/manifest"
"""Annotation: a hash of the Deployment as xae applied it, so the reconciler re-applies after
any change (probes, drain time), not only after a new release."""
PRE_STOP_SECONDS = 3
"""Pods keep serving this long after removal starts, while the router drops their address."""


def namespace_name(plane: str, owner: str) -> str:
    """`xae-<owner>` (`xae-<plane>-<owner>` off the default plane), a valid DNS label.

    Owner names that are not DNS labels already get a hash suffix, so two users never share
    a namespace by accident."""
    slug = re.sub(r"[^a-z0-9-]+", "-", owner.lower()).strip("-")[:30] or "user"
    if slug != owner:
        slug = f"{slug}-{hashlib.sha256(owner.encode()).hexdigest()[:6]}"
    return f"xae-{slug}" if plane == "default" else f"xae-{plane}-{slug}"


SPLIT_PROCESS = re.compile(r"web-v([0-9]+)")
"""The process label of a split release's web Deployment."""


def planned_processes(plan: AppPlan) -> tuple[ProcessPlan, ...]:
    """Every Deployment the plan needs: one per process type, plus `web-v<N>` per other
    release of a weighted split."""
    extra = tuple(
        replace(p, process=f"web-v{p.spec.release}") for p in (plan.split.web if plan.split else ())
    )
    return plan.processes + extra


def process_type(label: str) -> str:
    """The process type a Deployment or pod runs (`web` for a split release's `web-v<N>`)."""
    return "web" if SPLIT_PROCESS.fullmatch(label) else label


def deployment_name(app: str, process: str) -> str:
    return f"{app}-{process}"


def secret_name(app: str, env: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:10]
    return f"{app}-env-{digest}"


def app_labels(plane: str, app: str) -> dict[str, str]:
    return {PLANE: plane, APP: app, "app.kubernetes.io/managed-by": "xae"}


def namespace(plane: str, owner: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace_name(plane, owner),
            "labels": {
                PLANE: plane,
                OWNER: namespace_name("default", owner)[4:],
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def config_secret(plane: str, ns: str, app: str, env: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(app, env),
            "namespace": ns,
            "labels": app_labels(plane, app),
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": dict(env),
    }


def network_policy(
    plane: str, ns: str, app: str, router_cidrs: list[str], blocked_cidrs: Sequence[str] = ()
) -> Manifest:
    """Every pod of the app admits traffic only from the router, on no other path; with
    `blocked_cidrs`, it connects nowhere in them (the node's own services, other pods, the
    LAN, cloud metadata) but to DNS."""
    spec: Manifest = {
        "podSelector": {"matchLabels": {PLANE: plane, APP: app}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in router_cidrs]}],
    }
    if blocked_cidrs:
        spec["policyTypes"].append("Egress")
        spec["egress"] = [
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(blocked_cidrs)}}]},
            {"ports": [{"protocol": proto, "port": 53} for proto in ("UDP", "TCP")]},
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": app, "namespace": ns, "labels": app_labels(plane, app)},
        "spec": spec,
    }


def web_service(plane: str, ns: str, app: str, port: int) -> Manifest:
    """Headless: it exists for its EndpointSlices (which the router watches), so it needs no
    cluster IP and no kube-proxy rules."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": ns, "labels": app_labels(plane, app)},
        "spec": {
            "clusterIP": "None",
            "selector": {PLANE: plane, APP: app, PROCESS: "web"},
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            "publishNotReadyAddresses": False,
        },
    }


def split_service(plane: str, ns: str, app: str, release: int, port: int) -> Manifest:
    """As `web_service`, for a split release's web pods; its EndpointSlices carry the
    release's label, which the watch groups the router's backends by."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{app}-v{release}",
            "namespace": ns,
            "labels": {**app_labels(plane, app), RELEASE: str(release)},
        },
        "spec": {
            "clusterIP": "None",
            "selector": {PLANE: plane, APP: app, PROCESS: f"web-v{release}"},
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
            "publishNotReadyAddresses": False,
        },
    }


def _probe(check: HealthCheck, port: int, *, period: int, failures: int) -> Manifest:
    # The default check (`/`, any non-5xx answer) has no Kubernetes equivalent (httpGet wants
    # 2xx/3xx): "the app accepts connections on $PORT" is the closest. An httpGet sends the
    # app's own host name, as the router does, not the pod's address.
    action: Manifest
    if check.strict:
        get: Manifest = {"path": check.path, "port": port}
        if check.host:
            get["httpHeaders"] = [{"name": "Host", "value": check.host}]
        action = {"httpGet": get}
    else:
        action = {"tcpSocket": {"port": port}}
    return {
        **action,
        "periodSeconds": period,
        "timeoutSeconds": max(1, math.ceil(check.timeout)),
        "failureThreshold": failures,
    }


def _quantity_cpu(cpus: float) -> str:
    return f"{max(1, round(cpus * 1000))}m"


def deployment(
    plane: str, ns: str, plan: AppPlan, proc: ProcessPlan, *, progress_deadline: int
) -> Manifest:
    spec = proc.spec
    labels = {**app_labels(plane, plan.app), PROCESS: proc.process}
    env: list[Manifest] = []
    container: Manifest = {
        "name": proc.process,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "envFrom": [{"secretRef": {"name": secret_name(plan.app, spec.env)}}],
        "env": env,
        "resources": {
            # Requests are what the scheduler reserves: a tenth of the CPU limit (apps are
            # mostly idle, as on docker, where nothing is reserved) and all of the memory.
            "requests": {"cpu": _quantity_cpu(spec.cpus / 10), "memory": str(spec.memory_bytes)},
            "limits": {"cpu": _quantity_cpu(spec.cpus), "memory": str(spec.memory_bytes)},
        },
        # /tmp is a tmpfs of `tmp_bytes` (counted in the memory limit; ENOSPC past it), as on
        # docker; the writable layer and logs are bounded by `ephemeral-storage` (the kubelet
        # evicts a pod that writes more).
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": not spec.root_in_userns,
            "runAsUser": uid_of(spec.run_as),
            "runAsGroup": gid_of(spec.run_as),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
    }
    if spec.read_only:  # only when set, so other Deployments keep their manifest hash
        container["securityContext"]["readOnlyRootFilesystem"] = True
    if spec.disk_bytes is not None:
        disk = spec.disk_bytes
        container["resources"]["requests"]["ephemeral-storage"] = str(disk // 10)
        container["resources"]["limits"]["ephemeral-storage"] = str(disk)
    if spec.command:
        container["command"] = shell_command(spec.command)
    if spec.port is not None:
        env.append({"name": "PORT", "value": str(spec.port)})
        container["ports"] = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
        check = plan.health
        start_budget = max(1, math.ceil(check.start_budget))
        container["startupProbe"] = _probe(check, spec.port, period=1, failures=start_budget)
        container["readinessProbe"] = _probe(check, spec.port, period=1, failures=2)
        container["livenessProbe"] = _probe(check, spec.port, period=10, failures=3)
    manifest: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(plan.app, proc.process),
            "namespace": ns,
            "labels": labels,
            "annotations": {SPEC: spec.spec_hash, RELEASE: str(spec.release)},
        },
        "spec": {
            "replicas": proc.quantity,
            "selector": {"matchLabels": labels},
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": progress_deadline,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "template": {
                "metadata": {
                    "labels": {**labels, RELEASE: str(spec.release), SPEC: spec.spec_hash},
                },
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "tmp",
                            "emptyDir": {"medium": "Memory", "sizeLimit": str(spec.tmp_bytes)},
                        }
                    ],
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": math.ceil(plan.drain_seconds)
                    + PRE_STOP_SECONDS,
                    "securityContext": {
                        "runAsNonRoot": not spec.root_in_userns,
                        "runAsUser": uid_of(spec.run_as),
                        "runAsGroup": gid_of(spec.run_as),
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                },
            },
        },
    }
    if spec.root_in_userns:
        # Root only in the pod's own user namespace: an unprivileged id on the node. The
        # backend refuses the plan first when the cluster's runtime cannot do that.
        manifest["spec"]["template"]["spec"]["hostUsers"] = False
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    manifest["metadata"]["annotations"][MANIFEST] = digest
    return manifest


def oneoff_labels(plane: str, spec: OneOffSpec) -> dict[str, str]:
    """The app's labels (so its NetworkPolicy confines the pod too) and the one-off's kind."""
    return {**app_labels(plane, spec.app), ONEOFF: spec.kind, RELEASE: str(spec.release)}


def oneoff_secret_name(app: str, name: str) -> str:
    return f"{app}-{name}-env"


def oneoff_secret(plane: str, ns: str, spec: OneOffSpec) -> Manifest:
    """The one-off's config, its own Secret (deleted with the run): the release's config
    Secret may not exist yet (the release phase runs before the rollout) or be pruned."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": oneoff_secret_name(spec.app, spec.name),
            "namespace": ns,
            # Not the app's labels: pruning the app's unused config Secrets must not see it.
            "labels": {PLANE: plane, ONEOFF: spec.kind},
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": dict(spec.env),
    }


def oneoff_job(plane: str, ns: str, spec: OneOffSpec) -> Manifest:
    """A Job that runs `spec` once: no retry, killed at its timeout (`activeDeadlineSeconds`),
    confined as the app's Deployments are; removed by xae after the run (and by the cluster's
    TTL controller should xae die during it)."""
    root = spec.run_as == ROOT
    labels = oneoff_labels(plane, spec)
    container: Manifest = {
        "name": spec.kind,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "envFrom": [{"secretRef": {"name": oneoff_secret_name(spec.app, spec.name)}}],
        "resources": {
            "requests": {"cpu": _quantity_cpu(spec.cpus / 10), "memory": str(spec.memory_bytes)},
            "limits": {"cpu": _quantity_cpu(spec.cpus), "memory": str(spec.memory_bytes)},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": not root,
            "runAsUser": uid_of(spec.run_as),
            "runAsGroup": gid_of(spec.run_as),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if spec.command:
        container["command"] = shell_command(spec.command)
    pod: Manifest = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": str(spec.tmp_bytes)}}
        ],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsNonRoot": not root,
            "runAsUser": uid_of(spec.run_as),
            "runAsGroup": gid_of(spec.run_as),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if root:
        pod["hostUsers"] = False
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{spec.app}-{spec.name}", "namespace": ns, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, math.ceil(spec.timeout)),
            "ttlSecondsAfterFinished": 600,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def app_objects(
    plane: str,
    plan: AppPlan,
    *,
    router_cidrs: list[str],
    progress_deadline: int,
    blocked_cidrs: Sequence[str] = (),
) -> list[Manifest]:
    """Everything `plan` needs, in the order to apply it (what others refer to comes first)."""
    ns = namespace_name(plane, plan.owner)
    objects = [namespace(plane, plan.owner)]
    processes = planned_processes(plan)
    envs = {json.dumps(p.spec.env, sort_keys=True): p.spec.env for p in processes}
    objects += [config_secret(plane, ns, plan.app, env) for env in envs.values()]
    objects.append(network_policy(plane, ns, plan.app, router_cidrs, blocked_cidrs))
    web = next((p for p in plan.processes if p.process == "web" and p.spec.port), None)
    if web is not None and web.spec.port is not None:
        objects.append(web_service(plane, ns, plan.app, web.spec.port))
    for other in plan.split.web if plan.split else ():
        if other.spec.port is not None:
            objects.append(split_service(plane, ns, plan.app, other.spec.release, other.spec.port))
    objects += [
        deployment(plane, ns, plan, p, progress_deadline=progress_deadline) for p in processes
    ]
    return objects


def cron_job_name(app: str, job: str) -> str:
    """`<app>-<job>`: at most 51 characters (app ≤ 30, job ≤ 20), within the 52 a CronJob's
    name may have (its Jobs add 11)."""
    return f"{app}-{job}"


def cron_secret_name(app: str, env: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:10]
    return f"{app}-cron-{digest}"


def cron_secret(plane: str, ns: str, app: str, env: dict[str, str]) -> Manifest:
    """The config every cron job of the app runs with (the current release's), named by its
    hash and immutable as the Deployments' is; its own object, so pruning the Deployments'
    unused config never removes it from under a CronJob."""
    secret = config_secret(plane, ns, app, env)
    secret["metadata"]["name"] = cron_secret_name(app, env)
    secret["metadata"]["labels"] = {**app_labels(plane, app), CRON: ""}
    return secret


def cron_job(plane: str, ns: str, spec: ScheduledSpec) -> Manifest:
    """A CronJob whose Jobs are the one-off Job of `spec.oneoff` (same confinement, limits,
    labels, no retry, killed at its timeout), reading the app's cron config Secret; the
    concurrency policy is the overlap policy, the time zone the job's."""
    oneoff = spec.oneoff
    template = oneoff_job(plane, ns, oneoff)
    labels = {**oneoff_labels(plane, oneoff), CRON: spec.job}
    job_spec = template["spec"]
    job_spec["ttlSecondsAfterFinished"] = CRON_TTL
    job_spec["template"]["metadata"]["labels"] = labels
    container = job_spec["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"secretRef": {"name": cron_secret_name(oneoff.app, oneoff.env)}}]
    manifest: Manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cron_job_name(oneoff.app, spec.job),
            "namespace": ns,
            "labels": {**app_labels(plane, oneoff.app), CRON: spec.job},
            "annotations": {RELEASE: str(oneoff.release)},
        },
        "spec": {
            "schedule": spec.schedule,
            "timeZone": spec.zone,
            "concurrencyPolicy": "Allow" if spec.allow_overlap else "Forbid",
            "startingDeadlineSeconds": spec.starting_deadline,
            "successfulJobsHistoryLimit": CRON_HISTORY,
            "failedJobsHistoryLimit": CRON_HISTORY,
            "suspend": False,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
        },
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    manifest["metadata"]["annotations"][MANIFEST] = digest
    return manifest


def manual_job(cronjob: Manifest, name: str) -> Manifest:
    """A Job from `cronjob`'s template, as `kubectl create job --from=cronjob/...` makes it:
    owned by the CronJob (deleted with it), marked as started by hand."""
    meta = cronjob["metadata"]
    template = cronjob["spec"]["jobTemplate"]
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(template.get("metadata", {}).get("labels", {})),
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [owner],
        },
        "spec": template["spec"],
    }
