# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Settings and helpers shared by up.sh and down.sh (sourced, not run).
#
# Every path, port and address the local cluster uses is defined here, so that
# up.sh and down.sh agree on what "ours" is: down.sh only ever touches processes
# whose pid files are in $K8S_STATE_DIR, the containerd socket below, iptables
# chains named KUBE-* / CNI-* (kube-router's are KUBE-ROUTER-*, KUBE-POD-FW-*,
# KUBE-NWPLCY-*), kube-router's ipsets KUBE-SRC-* / KUBE-DST-* and the bridge
# $K8S_BRIDGE.

K8S_VERSION="${K8S_VERSION:-v1.33.13}"
K8S_CACHE_DIR="${K8S_CACHE_DIR:-/var/cache/xae/k8s/${K8S_VERSION}}"
K8S_BIN_DIR="${K8S_CACHE_DIR}/bin"
K8S_STATE_DIR="${K8S_STATE_DIR:-/var/lib/xae/k8s}"
# Runtime files (sockets, containerd state) live on tmpfs, as containerd expects.
K8S_RUN_DIR="${K8S_RUN_DIR:-/run/xae-k8s}"
K8S_NODE_NAME="${K8S_NODE_NAME:-xae-node}"
K8S_POD_PIDS_LIMIT="${K8S_POD_PIDS_LIMIT:-256}"  # per pod; xae's XAE_PIDS_LIMIT on docker

# Networks. None of these may overlap Docker's bridges (172.17-31.x, 192.168.x);
# up.sh checks `ip route` before it creates anything.
K8S_POD_CIDR="${K8S_POD_CIDR:-10.88.0.0/16}"
K8S_BRIDGE_IP="${K8S_BRIDGE_IP:-10.88.0.1}"       # gateway of the pods; also the node IP
K8S_SERVICE_CIDR="${K8S_SERVICE_CIDR:-10.0.0.0/24}"
K8S_SERVICE_IP="${K8S_SERVICE_IP:-10.0.0.1}"     # the `kubernetes` service
K8S_BRIDGE="${K8S_BRIDGE:-xae-cni0}"
K8S_CNI_NETWORK="xae-k8s"

# Ports (loopback unless noted).
K8S_API_PORT="${K8S_API_PORT:-6443}"
K8S_ETCD_CLIENT_PORT="${K8S_ETCD_CLIENT_PORT:-2379}"
K8S_ETCD_PEER_PORT="${K8S_ETCD_PEER_PORT:-2380}"
K8S_REGISTRY="${K8S_REGISTRY:-127.0.0.1:5000}"

K8S_CONTAINERD_SOCK="${K8S_RUN_DIR}/containerd.sock"
PAUSE_IMAGE="${K8S_REGISTRY}/xae/pause:3.10"
# Bump the tag when images/hello-http changes: up.sh pushes only missing tags.
HELLO_IMAGE="${K8S_REGISTRY}/xae/hello-http:2"

PKI="${K8S_STATE_DIR}/pki"
CONF="${K8S_STATE_DIR}/conf"
LOGS="${K8S_STATE_DIR}/logs"
PIDS="${K8S_STATE_DIR}/pids"
ADMIN_KUBECONFIG="${K8S_STATE_DIR}/kubeconfig"

# Start order; down.sh stops them in reverse.
K8S_SERVICES=(registry etcd kube-apiserver api-relay kube-controller-manager kube-scheduler containerd kubelet kube-proxy
              kube-router)

log() { printf '[k8s-local %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kubectl_admin() { "${K8S_BIN_DIR}/kubectl" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }

# pid_of NAME: the pid recorded for NAME, if that process is still alive and is
# still the program we started (pids get reused).
pid_of() {
    local name="$1" pid exe
    [[ -f "${PIDS}/${name}.pid" ]] || return 1
    pid="$(<"${PIDS}/${name}.pid")"
    [[ -n "${pid}" && -d "/proc/${pid}" ]] || return 1
    exe="$(<"${PIDS}/${name}.exe")" 2>/dev/null || return 1
    [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "${exe}" ]] || return 1
    echo "${pid}"
}

is_running() { pid_of "$1" >/dev/null; }

# start_bg NAME COMMAND ARGS...: start a long-running process in its own session
# (so a Ctrl-C in the caller's terminal does not reach it), with its output in
# $LOGS/NAME.log and its pid in $PIDS/NAME.pid. Does nothing if already running.
start_bg() {
    local name="$1"; shift
    if is_running "${name}"; then
        log "${name} already running (pid $(pid_of "${name}"))"
        return 0
    fi
    log "starting ${name}"
    setsid "$@" >>"${LOGS}/${name}.log" 2>&1 </dev/null &
    echo $! >"${PIDS}/${name}.pid"
    readlink -f "$1" >"${PIDS}/${name}.exe"
}

# stop_service NAME: SIGTERM, wait up to 20 s, then SIGKILL.
stop_service() {
    local name="$1" pid i
    pid="$(pid_of "${name}")" || { rm -f "${PIDS}/${name}.pid" "${PIDS}/${name}.exe"; return 0; }
    log "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        [[ -d "/proc/${pid}" ]] || break
        sleep 0.5
    done
    if [[ -d "/proc/${pid}" ]]; then
        log "${name} did not exit, SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "${PIDS}/${name}.pid" "${PIDS}/${name}.exe"
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every second; on time-out show
# the end of $LOGS/WHAT.log (WHAT is usually a service name) and fail.
wait_for() {
    local what="$2" deadline=$((SECONDS + $1)); shift 2
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    if [[ -f "${LOGS}/${what}.log" ]]; then
        log "last lines of ${LOGS}/${what}.log:"
        tail -n 25 "${LOGS}/${what}.log" >&2
    fi
    die "timed out waiting for ${what}"
}

# Kernel settings the kubelet changes when it starts (it insists on them:
# pkg/kubelet/cm setupKernelTunables). up.sh saves the host's values first and
# down.sh puts them back.
KUBELET_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
                 kernel/keys/root_maxkeys kernel/keys/root_maxbytes)
SYSCTL_SAVE="${K8S_STATE_DIR}/sysctl.saved"

# write_file PATH < CONTENT: replace PATH only if CONTENT differs. kube-proxy exits
# when its config file is written to (even with the same bytes), so a second
# up.sh must leave unchanged files alone.
write_file() {
    local tmp
    tmp="$(mktemp "$1.XXXXXX")"
    cat >"${tmp}"
    if cmp -s "${tmp}" "$1"; then rm -f "${tmp}"; else mv -f "${tmp}" "$1"; fi
}

ctr_k8s() { ctr --address "${K8S_CONTAINERD_SOCK}" --namespace k8s.io "$@"; }
