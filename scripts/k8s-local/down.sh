#!/usr/bin/env bash
# Stop everything up.sh started, and only that:
#   1. stop the controllers, then delete the pods through the API while the kubelet
#      still runs, so each pod's network (veth, IP, iptables rules) is torn down by
#      its CNI plugins (Deployments etc. stay, and get new pods at the next up.sh);
#   2. stop kube-router, kube-proxy and the kubelet, kill what is left in OUR containerd
#      (namespace k8s.io on ${K8S_CONTAINERD_SOCK}), stop it and the control plane;
#   3. remove what the cluster added to the host: iptables chains KUBE-* and CNI-*
#      (and the jumps to them), kube-router's ipsets, the bridge, leftover mounts
#      under our dirs.
# State (etcd data, certs, registry, image cache) is kept, so the next up.sh is
# fast; K8S_PURGE=1 also deletes the state dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
source "${HERE}/common.sh"

[[ $EUID -eq 0 ]] || die "run as root"
[[ -d "${PIDS}" ]] || { log "nothing to stop (no ${PIDS})"; exit 0; }

# ----------------------------------------------------------- 0. fake nodes
# KWOK's fake nodes (kwok.sh) go first, with their pods (no kubelet would ever
# confirm those pods' deletion in the drain below), then kwok itself.
"${HERE}/kwok.sh" down || log "kwok.sh down failed; continuing"

# ----------------------------------------------------------- 1. drain pods
# Controllers stop first, so nothing recreates the pods deleted here; Deployments
# and the like stay in etcd and get their pods back at the next up.sh.
stop_service kube-controller-manager
stop_service kube-scheduler
if is_running kube-apiserver && is_running kubelet && [[ -x "${K8S_BIN_DIR}/kubectl" ]]; then
    log "deleting all pods (the kubelet tears down their containers and network)"
    kubectl_admin delete pods --all --all-namespaces --grace-period 5 \
        --timeout 90s --request-timeout 100s >/dev/null 2>&1 || log "some pods did not go away in time"
fi

# ----------------------------------------------------------- 2. processes
# kube-router first: it would otherwise re-add rules while we remove them.
stop_service kube-router
stop_service kube-proxy
stop_service kubelet

if is_running containerd; then
    # Whatever is still running in our containerd (pods the drain missed): kill the
    # tasks, which makes their shims exit, then remove the sandboxes' containers.
    for task in $(ctr_k8s tasks ls -q 2>/dev/null); do
        ctr_k8s tasks kill --signal SIGKILL "${task}" >/dev/null 2>&1 || true
    done
    sleep 1
    for task in $(ctr_k8s tasks ls -q 2>/dev/null); do
        ctr_k8s tasks delete --force "${task}" >/dev/null 2>&1 || true
    done
    for c in $(ctr_k8s containers ls -q 2>/dev/null); do
        ctr_k8s containers delete "${c}" >/dev/null 2>&1 || true
    done
fi
stop_service containerd
# A shim outlives containerd by design; ours are the ones started with our socket.
for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address ${K8S_CONTAINERD_SOCK}( |$)" || true); do
    log "killing leftover shim ${pid}"
    kill -KILL "${pid}" 2>/dev/null || true
done

for ((i = ${#K8S_SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${K8S_SERVICES[i]}"
done

# ----------------------------------------------------------- 3. host changes
# iptables: kube-proxy's own cleanup first, then any KUBE-*/CNI-* chain left
# (kubelet canaries, CNI masquerade/firewall/portmap chains). Rules in built-in
# chains are removed only when they jump to one of those chains.
if [[ -x "${K8S_BIN_DIR}/kube-proxy" ]]; then
    "${K8S_BIN_DIR}/kube-proxy" --cleanup >>"${LOGS}/kube-proxy.log" 2>&1 || true
fi
for ipt in iptables ip6tables; do
    command -v "${ipt}" >/dev/null || continue
    for table in filter nat mangle; do
        rules="$("${ipt}" -t "${table}" -S 2>/dev/null)" || continue
        # -A CHAIN ... -j KUBE-X  ->  -D CHAIN ... -j KUBE-X (in built-in chains only);
        # xargs keeps quoted comments ("kubernetes service portals") as one argument.
        grep -E -- '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE-|CNI-)' <<<"${rules}" |
            sed -e 's/^-A /-D /' |
            xargs -r -L1 "${ipt}" -t "${table}" 2>/dev/null || true
        mapfile -t chains < <(awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}' <<<"${rules}")
        for c in "${chains[@]}"; do "${ipt}" -t "${table}" -F "${c}" 2>/dev/null || true; done
        for c in "${chains[@]}"; do "${ipt}" -t "${table}" -X "${c}" 2>/dev/null || true; done
    done
done

# kube-router's ipsets (pod and ipBlock sets of each policy), now that no rule
# refers to them. Not `kube-router --cleanup-config`: it also runs the cleanup of
# its IPVS proxy and BGP router, which were never started here and would touch
# IPVS and routes that are not ours. Only sets with kube-router's netpol
# prefixes are destroyed (inet6: is its prefix for IPv6 sets).
if command -v ipset >/dev/null; then
    mapfile -t sets < <(ipset list -n 2>/dev/null | grep -E '^(inet6:)?KUBE-(SRC|DST)-' || true)
    for set in "${sets[@]}"; do
        ipset destroy "${set}" 2>/dev/null || log "could not destroy ipset ${set}"
    done
fi

# Pod network namespaces and veths the drain did not clean (only ever after a crash).
for link in $(ip -o link show master "${K8S_BRIDGE}" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link delete "${link}" 2>/dev/null || true
done
if ip link show "${K8S_BRIDGE}" >/dev/null 2>&1; then
    log "removing bridge ${K8S_BRIDGE}"
    ip link delete "${K8S_BRIDGE}"
fi
rm -rf "${K8S_STATE_DIR}/cni/ipam"

# Mounts left under our dirs (pod volumes, container rootfs, sandbox netns/shm),
# deepest first.
findmnt -rn -o TARGET | grep -E "^(${K8S_STATE_DIR}|${K8S_RUN_DIR})/" | sort -r |
    while IFS= read -r m; do umount -l "${m}" 2>/dev/null || true; done

# The kubelet's cgroup tree (cgroupfs driver, cgroup v1): empty once the pods are
# gone; rmdir, deepest first, removes only empty cgroups.
for root in /sys/fs/cgroup/*/kubepods; do
    [[ -d "${root}" ]] || continue
    find "${root}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done
# Container logs the kubelet keeps at fixed host paths (its pods are gone now).
rm -rf /var/log/pods /var/log/containers

# The kernel settings the kubelet changed.
if [[ -f "${SYSCTL_SAVE}" ]]; then
    while read -r k v; do echo "${v}" >"/proc/sys/${k}" || true; done <"${SYSCTL_SAVE}"
    rm -f "${SYSCTL_SAVE}"
    log "restored kernel settings: ${KUBELET_SYSCTLS[*]}"
fi

if [[ "${K8S_PURGE:-0}" == 1 ]]; then
    log "purging ${K8S_STATE_DIR} and ${K8S_RUN_DIR}"
    rm -rf "${K8S_STATE_DIR}" "${K8S_RUN_DIR}"
fi
log "stopped"
