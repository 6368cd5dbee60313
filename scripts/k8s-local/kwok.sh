#!/usr/bin/env bash
# Fake nodes for scale tests: KWOK (sigs.k8s.io/kwok) against the local cluster.
#
#   scripts/k8s-local/kwok.sh build     # build (or reuse) the kwok binary and its stages
#   scripts/k8s-local/kwok.sh up N      # start kwok, make fake nodes kwok-node-0 .. kwok-node-(N-1)
#   scripts/k8s-local/kwok.sh down      # delete the fake nodes and their pods, stop kwok
#
# kwok is a controller, not a kubelet: it watches the nodes it is told to manage,
# keeps them Ready (a Lease heartbeat), and moves every pod bound to them through
# Pending -> Running (with a fake pod IP) -> deleted, by writing their status
# through the API. Nothing runs: no container, no network. So the scheduler, the
# controllers and the API server do their real work for thousands of pods while
# the machine only pays for objects.
#
# The fake nodes carry the label type=kwok and the annotation kwok.x-k8s.io/node=fake,
# and kwok manages only nodes with that annotation, never xae-node. They have no
# taint, so ordinary pods land on them; a test that wants all its pods there
# cordons xae-node for its duration (and uncordons it after: `down` does too).
#
# Environment (all optional; paths and the cluster's ranges are in common.sh):
#   KWOK_VERSION     sigs.k8s.io/kwok release       (default v0.8.0)
#   KWOK_POD_CIDR    the fake pods' IPs              (default 10.244.0.0/16)
#   K8S_FORCE_BUILD  1 = rebuild kwok even if cached
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
source "${HERE}/common.sh"

# v0.8.0 is the newest the module proxy serves. It needs Go >= 1.26 and is built
# with client-go v0.36; it only uses core/v1 nodes and pods, coordination/v1
# leases and events, which a 1.33 API server serves the same way.
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
# kwok's default is 10.0.0.0/24, our Service range. Nothing routes 10.244.0.0/16
# here (up.sh's pods are 10.88.0.0/16); the fake IPs are never reachable anyway.
KWOK_POD_CIDR="${KWOK_POD_CIDR:-10.244.0.0/16}"
KWOK_BIN="${K8S_BIN_DIR}/kwok"
# The Stage objects (what kwok does to a node or pod, and when) of the same kwok
# release, saved at build time from its module (kwokctl embeds the same files).
KWOK_STAGES="${K8S_CACHE_DIR}/kwok-stages.yaml"
KWOK_STAMP="${K8S_CACHE_DIR}/kwok.version"
KWOK_ANNOTATION="kwok.x-k8s.io/node"
KWOK_NODE_PREFIX="kwok-node-"

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# ------------------------------------------------------------------ build
cmd_build() {
    if [[ "${K8S_FORCE_BUILD:-0}" != 1 && -x "${KWOK_BIN}" && -s "${KWOK_STAGES}" &&
          "$(cat "${KWOK_STAMP}" 2>/dev/null)" == "${KWOK_VERSION}" ]]; then
        log "kwok ${KWOK_VERSION} cached in ${KWOK_BIN}; skipping build"
        return 0
    fi
    command -v go >/dev/null || export PATH="/usr/local/go/bin:${PATH}"
    command -v go >/dev/null || die "go is needed to build kwok"
    mkdir -p "${K8S_BIN_DIR}"
    # Same build settings as build.sh: lowest CPU and I/O priority, one package at
    # a time, static binary.
    local nice_cmd=(nice -n 19) work start dir
    if command -v ionice >/dev/null; then nice_cmd=(ionice -c 3 "${nice_cmd[@]}"); fi
    export GOFLAGS="-p=${K8S_BUILD_JOBS:-1} -mod=mod" CGO_ENABLED=0
    # A throwaway module that requires only kwok: `go get` of the command package
    # resolves exactly the dependencies it needs, at kwok's own minimum versions.
    work="$(mktemp -d "${K8S_CACHE_DIR}/kwok-build.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: $work is local
    trap "rm -rf '${work}'" EXIT
    start=$(date +%s)
    log "building kwok ${KWOK_VERSION} in ${work}"
    (
        cd "${work}"
        go mod init xae.local/kwokbuild >/dev/null 2>&1
        "${nice_cmd[@]}" go get "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" 2>get.log ||
            { cat get.log >&2; exit 1; }
        "${nice_cmd[@]}" go build -trimpath -ldflags "-s -w" -o "${work}/kwok" sigs.k8s.io/kwok/cmd/kwok
    )
    # The default stages kwokctl uses for a "binary" cluster: nodes become Ready at
    # once and heartbeat through a Lease (cheaper for the API server than node
    # status updates); pods become Running and Ready (pod-ready), a Job's pods
    # Succeeded (pod-complete), and deleted pods go away (pod-delete).
    dir="$(cd "${work}" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
    local f out="${work}/stages.yaml"
    : >"${out}"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
        [[ -f "${dir}/kustomize/stage/${f}" ]] || die "kwok ${KWOK_VERSION} has no kustomize/stage/${f}"
        { echo "---"; cat "${dir}/kustomize/stage/${f}"; } >>"${out}"
    done
    install -m 0755 "${work}/kwok" "${KWOK_BIN}"
    install -m 0644 "${out}" "${KWOK_STAGES}"
    echo "${KWOK_VERSION}" >"${KWOK_STAMP}"
    log "kwok ${KWOK_VERSION} built in $(( $(date +%s) - start )) s: ${KWOK_BIN}"
}

# ------------------------------------------------------------------ helpers
apiserver_up() { kubectl_admin get --raw /readyz >/dev/null 2>&1; }

# One kubectl sends its requests one after the other, at most 5 per second after a
# burst of 10 (client-go's default rate limit; kubectl has no flag for it): creating
# 200 nodes in one call takes 40 s, deleting 600 pods two minutes. So nodes are
# created by parallel kubectl calls of 10 each, and deletions go straight to the API
# with curl (one connection for 50 of them, 8 at a time; admin client certificate).

# api_delete < PATHS: DELETE each API path (one a line, with its query string).
api_delete() {
    sed "s|^|https://127.0.0.1:${K8S_API_PORT}|" |
        xargs -r -n 50 -P 8 curl -sS --noproxy '*' --cacert "${PKI}/ca.crt" \
            --cert "${PKI}/admin.crt" --key "${PKI}/admin.key" -X DELETE >/dev/null
}

# The fake nodes that exist now (by label and name prefix, so xae-node can never
# be among them).
kwok_nodes() {
    kubectl_admin get nodes -l type=kwok -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}' |
        grep "^${KWOK_NODE_PREFIX}" || true
}

# node_yaml I: one fake node. Its capacity is what the scheduler counts; 110 pods
# is the kubelet's default limit.
node_yaml() {
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: ${KWOK_NODE_PREFIX}$1
  labels:
    type: kwok
    kubernetes.io/hostname: ${KWOK_NODE_PREFIX}$1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
  annotations:
    ${KWOK_ANNOTATION}: fake
    node.alpha.kubernetes.io/ttl: "0"
status:
  allocatable: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
EOF
}

# ------------------------------------------------------------------ up
cmd_up() {
    local n="${1:-}" i existing=() extra=()
    [[ "${n}" =~ ^[0-9]+$ && "${n}" -ge 1 ]] || usage
    apiserver_up || die "the API server does not answer; run make k8s-up first"
    # Fake IPs must not look like real ones: not in our pod or Service range, not
    # on any route of this host (a client of "the pod's IP" would reach whatever is there).
    local routes=()
    mapfile -t routes < <(ip -4 route show | awk '$1 != "default" {print $1}')
    python3 - "${KWOK_POD_CIDR}" "${K8S_POD_CIDR}" "${K8S_SERVICE_CIDR}" "${routes[@]}" <<'EOF' ||
import ipaddress, sys
fake = ipaddress.ip_network(sys.argv[1])
hits = sorted({n for n in sys.argv[2:] if ipaddress.ip_network(n, strict=False).overlaps(fake)})
sys.exit(f"KWOK_POD_CIDR {fake} overlaps {', '.join(hits)}" if hits else 0)
EOF
        die "choose another KWOK_POD_CIDR"
    cmd_build
    mkdir -p "${LOGS}" "${PIDS}" "${CONF}"
    # The proxy from the environment must not see our calls to 127.0.0.1 (as in up.sh).
    unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
    # Options are flags, not a KwokConfiguration in the config file: kwok applies its
    # defaults (parallelism 4, ...) only when no such object is given, and a partial
    # one leaves them at 0 ("node leases parallelism must be greater than 0").
    # The admin identity, as kwokctl gives it: kwok writes node and pod status, leases
    # and events for nodes that no kubelet owns. A lease of 40 s (kwokctl's default)
    # with the lease heartbeat stage: one small PUT per node every ~10 s.
    start_bg kwok "${KWOK_BIN}" \
        --config "${KWOK_STAGES}" \
        --kubeconfig "${ADMIN_KUBECONFIG}" \
        --manage-nodes-with-annotation-selector "${KWOK_ANNOTATION}=fake" \
        --cidr "${KWOK_POD_CIDR}" \
        --node-lease-duration-seconds 40
    sleep 1
    is_running kwok || { tail -n 25 "${LOGS}/kwok.log" >&2; die "kwok exited at once"; }

    # Create what is missing, one file per 10 nodes (see api_delete); `create` (not apply) because a
    # node's status (its capacity) can only be given at creation.
    mapfile -t existing < <(kwok_nodes)
    declare -A have=()
    for i in "${existing[@]}"; do have["${i}"]=1; done
    local dir="${CONF}/kwok-nodes" missing=0
    rm -rf "${dir}" && mkdir -p "${dir}"
    for ((i = 0; i < n; i++)); do
        [[ -n "${have[${KWOK_NODE_PREFIX}${i}]:-}" ]] && continue
        node_yaml "${i}" >>"${dir}/$((missing / 10)).yaml"
        missing=$((missing + 1))
    done
    if ((missing)); then
        log "creating ${missing} fake nodes"
        find "${dir}" -name '*.yaml' -print0 | xargs -0 -r -I{} -P 8 \
            "${K8S_BIN_DIR}/kubectl" --kubeconfig "${ADMIN_KUBECONFIG}" create -f {} >/dev/null
    fi
    rm -rf "${dir}"
    # Nodes from an earlier, larger `up` go.
    for i in "${existing[@]}"; do
        [[ "${i#"${KWOK_NODE_PREFIX}"}" -ge "${n}" ]] && extra+=("${i}")
    done
    if ((${#extra[@]})); then delete_nodes "${extra[@]}"; fi

    # kwok marks each node Ready within a second of seeing it.
    kwok_all_ready() {
        local ready
        ready="$(kubectl_admin get nodes -l type=kwok -o \
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
        [[ "${ready}" -eq "${n}" ]]
    }
    wait_for 120 kwok kwok_all_ready
    log "${n} fake nodes Ready (${KWOK_NODE_PREFIX}0 .. ${KWOK_NODE_PREFIX}$((n - 1))), pod IPs from ${KWOK_POD_CIDR}; kwok log: ${LOGS}/kwok.log"
}

# ------------------------------------------------------------------ down
# delete_nodes NAME...: delete the nodes, then force-delete every pod still bound to
# them (no kubelet will ever confirm their deletion; the pod GC would only do it
# after 40 s). Nodes go first, so the scheduler stops placing pods on them.
delete_nodes() {
    local -A gone=()
    local name ns pod node
    for name in "$@"; do gone["${name}"]=1; done
    log "deleting $# fake nodes"
    printf '/api/v1/nodes/%s\n' "$@" | api_delete
    # One list of all pods, filtered here (a field selector takes one node name).
    local count=0
    while read -r ns pod node; do
        [[ -n "${gone[${node}]:-}" ]] || continue
        echo "/api/v1/namespaces/${ns}/pods/${pod}?gracePeriodSeconds=0"
        count=$((count + 1))
    done < <(kubectl_admin get pods -A -o \
        'jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.spec.nodeName}{"\n"}{end}') \
        >"${CONF}/kwok-pods.delete"
    if ((count)); then
        log "force-deleting ${count} pods bound to them"
        api_delete <"${CONF}/kwok-pods.delete"
    fi
    rm -f "${CONF}/kwok-pods.delete"
    # Their Leases are owned by the nodes and garbage-collected; delete what is left
    # (only happens without a controller-manager), so nothing of a fake node stays.
    kubectl_admin -n kube-node-lease get leases -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}' |
        grep -Fx -f <(printf '%s\n' "$@") |
        sed 's|^|/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/|' | api_delete || true
}

cmd_down() {
    local nodes=()
    if [[ -f "${ADMIN_KUBECONFIG}" ]] && apiserver_up; then
        mapfile -t nodes < <(kwok_nodes)
        if ((${#nodes[@]})); then delete_nodes "${nodes[@]}"; fi
        # A scale test cordons the real node while it runs; one that died half-way
        # would leave the cluster with no schedulable node.
        if [[ "$(kubectl_admin get node "${K8S_NODE_NAME}" -o 'jsonpath={.spec.unschedulable}' 2>/dev/null)" == true ]]; then
            log "uncordoning ${K8S_NODE_NAME}"
            kubectl_admin uncordon "${K8S_NODE_NAME}" >/dev/null
        fi
    elif is_running kwok; then
        log "the API server does not answer; only stopping kwok"
    fi
    stop_service kwok
}

case "${1:-}" in
    build) cmd_build ;;
    up) [[ $EUID -eq 0 ]] || die "run as root"; cmd_up "${2:-}" ;;
    down) [[ $EUID -eq 0 ]] || die "run as root"; cmd_down ;;
    *) usage ;;
esac
