#!/usr/bin/env bash
# Bring up a single-node Kubernetes on this machine, every part a plain process:
#
#   registry (127.0.0.1:5000) -> etcd -> kube-apiserver (+ a relay on the pod bridge)
#   -> controller-manager, scheduler -> our own containerd -> kubelet -> kube-proxy
#   -> kube-router (NetworkPolicy only)
#
# then wait until the node is Ready and a pod from the local registry serves HTTP,
# and print `export KUBECONFIG=...`. Running it again only starts what is not
# running. Stop everything with down.sh. See docs/kubernetes-local.md.
#
# Environment: see common.sh (paths, addresses, ports); K8S_SKIP_SMOKE=1 skips the
# test pod; K8S_PREPARE_ONLY=1 builds and writes certificates and configs, then
# exits without changing the network or starting anything.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
source "${HERE}/common.sh"

[[ $EUID -eq 0 ]] || die "run as root (it starts a kubelet and containerd)"
t0=$(date +%s)

# ------------------------------------------------------------------ packages
# Debian packages this needs. RUNLEVEL=1 keeps the packages' maintainer scripts
# from starting their own daemons (a system docker-registry on :5000, ...): we
# start each one ourselves with our own config.
# ipset: kube-router's NetworkPolicy rules match pod sets with `-m set`.
debs=(containerd runc containernetworking-plugins docker-registry openssl conntrack iptables ipset socat
      iproute2 curl)
missing=()
for d in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt_install=(apt-get install -y --no-install-recommends "${missing[@]}")
    RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" ||
        { apt-get update && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive "${apt_install[@]}"; }
fi
command -v docker >/dev/null || die "docker is needed to build the pause image (scripts/bootstrap.sh installs it)"

# ------------------------------------------------------------------ binaries
"${HERE}/build.sh" >/dev/null
export PATH="${K8S_BIN_DIR}:${PATH}"
# Nothing below needs the outside world, and a proxy from the environment would
# capture the API server's calls to the kubelet (10.88.0.1) and our curls to pods.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

mkdir -p "${K8S_STATE_DIR}" "${PKI}" "${CONF}" "${LOGS}" "${PIDS}" "${K8S_RUN_DIR}" \
    "${K8S_STATE_DIR}/cni/net.d" "${K8S_STATE_DIR}/cni/ipam"

# ------------------------------------------------------------------ network
# Refuse to start if the pod or service range overlaps a route we do not own
# (Docker's bridges, the host network).
overlaps="$(ip -4 route show | python3 -c '
import ipaddress, sys
mine = [ipaddress.ip_network(n) for n in sys.argv[2:]]
for line in sys.stdin:
    f = line.split()
    if not f or f[0] == "default" or "'"${K8S_BRIDGE}"'" in f:
        continue
    try:
        net = ipaddress.ip_network(f[0], strict=False)
    except ValueError:
        continue
    if any(net.overlaps(m) for m in mine):
        print(line.strip())
' - "${K8S_POD_CIDR}" "${K8S_SERVICE_CIDR}")"
[[ -z "${overlaps}" ]] || die "pod/service ranges ${K8S_POD_CIDR} ${K8S_SERVICE_CIDR} collide with: ${overlaps}"

# ------------------------------------------------------------------ PKI + kubeconfigs
"${HERE}/certs.sh"

# kubeconfig FILE USER CERTNAME: a kubeconfig with the certs embedded, so it still
# works when copied somewhere else (into a container, a test's tmp dir).
kubeconfig() {
    local file="$1" user="$2" cert="$3" b64=(base64 -w0)
    write_file "${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: xae-local
  cluster:
    server: https://127.0.0.1:${K8S_API_PORT}
    certificate-authority-data: $("${b64[@]}" "${PKI}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $("${b64[@]}" "${PKI}/${cert}.crt")
    client-key-data: $("${b64[@]}" "${PKI}/${cert}.key")
contexts:
- name: xae-local
  context:
    cluster: xae-local
    user: ${user}
current-context: xae-local
EOF
    chmod 0600 "${file}"
}
kubeconfig "${ADMIN_KUBECONFIG}"                admin                              admin
kubeconfig "${CONF}/controller-manager.kubeconfig" system:kube-controller-manager  controller-manager
kubeconfig "${CONF}/scheduler.kubeconfig"          system:kube-scheduler           scheduler
kubeconfig "${CONF}/kubelet.kubeconfig"            "system:node:${K8S_NODE_NAME}"  kubelet
kubeconfig "${CONF}/kube-proxy.kubeconfig"         system:kube-proxy               kube-proxy
kubeconfig "${CONF}/kube-router.kubeconfig"        system:kube-router              kube-router

# ------------------------------------------------------------------ component configs
# Debian's docker-registry (distribution 2.8) with our own config: loopback only,
# storage in the state dir, no auth.
write_file "${CONF}/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${K8S_STATE_DIR}/registry
  delete:
    enabled: true
http:
  addr: ${K8S_REGISTRY}
EOF

# A containerd of our own, next to (never instead of) the one dockerd manages:
# its own socket, root, state, runc root and CNI dirs; only the CRI plugin is
# used. Plain-HTTP pulls from the local registry come from certs.d/hosts.toml.
mkdir -p "${K8S_STATE_DIR}/containerd/certs.d/${K8S_REGISTRY}"
write_file "${K8S_STATE_DIR}/containerd/certs.d/${K8S_REGISTRY}/hosts.toml" <<EOF
server = "http://${K8S_REGISTRY}"

[host."http://${K8S_REGISTRY}"]
  capabilities = ["pull", "resolve"]
EOF
write_file "${CONF}/containerd.toml" <<EOF
version = 2
root = "${K8S_STATE_DIR}/containerd/root"
state = "${K8S_RUN_DIR}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${K8S_CONTAINERD_SOCK}"

[ttrpc]
  address = "${K8S_CONTAINERD_SOCK}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${K8S_STATE_DIR}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # This sandbox has no CAP_SYS_RESOURCE (not even for root), so no process may
  # lower its oom_score_adj below 0; the CRI default of -998 for pause containers
  # (and -997 for Guaranteed pods) fails in runc ("failed to update
  # /proc/self/oom_score_adj: Permission denied"). Clamp to containerd's own score.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${K8S_RUN_DIR}/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${K8S_STATE_DIR}/cni/net.d"

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${K8S_STATE_DIR}/containerd/certs.d"
EOF

# Pods: a bridge with host-local addresses; portmap for hostPort; the firewall
# plugin adds per-pod ACCEPT rules in FORWARD, which Docker sets to DROP.
write_file "${K8S_STATE_DIR}/cni/net.d/10-${K8S_CNI_NETWORK}.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "${K8S_CNI_NETWORK}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${K8S_BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${K8S_POD_CIDR}", "gateway": "${K8S_BRIDGE_IP}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "${K8S_STATE_DIR}/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": "iptables"}
  ]
}
EOF

mkdir -p "${K8S_STATE_DIR}/kubelet"
write_file "${CONF}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Serve on the bridge (the node IP), never on the host's public interface.
address: ${K8S_BRIDGE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${PKI}/ca.crt
authorization:
  mode: Webhook
tlsCertFile: ${PKI}/kubelet-server.crt
tlsPrivateKeyFile: ${PKI}/kubelet-server.key
# This machine has cgroup v1 and no systemd.
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://${K8S_CONTAINERD_SOCK}
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
# Default -999 cannot be set here (no CAP_SYS_RESOURCE, see the containerd config).
oomScoreAdj: 0
maxPods: 110
# A pod's processes and threads, together: a fork bomb stops here instead of exhausting the
# host's PIDs (docker instances get the same bound from XAE_PIDS_LIMIT).
podPidsLimit: ${K8S_POD_PIDS_LIMIT}
EOF

write_file "${CONF}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${CONF}/kube-proxy.kubeconfig
hostnameOverride: ${K8S_NODE_NAME}
clusterCIDR: ${K8S_POD_CIDR}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Default -999 cannot be set here (no CAP_SYS_RESOURCE, see the containerd config).
oomScoreAdj: 0
# NodePorts only on the node IP (the bridge), and no route_localnet sysctl.
nodePortAddresses: ["primary"]
iptables:
  localhostNodePorts: false
# 0 = leave the host's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
if [[ "${K8S_PREPARE_ONLY:-0}" == 1 ]]; then
    log "prepared binaries, certificates and configs in ${K8S_STATE_DIR}; nothing started"
    exit 0
fi

# ------------------------------------------------------------------ bridge
# The pods' bridge is created here rather than by the CNI plugin at the first pod,
# because its address is also the node IP: the kubelet listens on it, and the
# `kubernetes` service points at it (kubelet refuses a loopback node IP).
if ! ip link show "${K8S_BRIDGE}" >/dev/null 2>&1; then
    log "creating bridge ${K8S_BRIDGE} ${K8S_BRIDGE_IP}/${K8S_POD_CIDR#*/}"
    ip link add name "${K8S_BRIDGE}" type bridge
fi
ip addr replace "${K8S_BRIDGE_IP}/${K8S_POD_CIDR#*/}" dev "${K8S_BRIDGE}"
ip link set "${K8S_BRIDGE}" up

# ------------------------------------------------------------------ registry
# If something already serves the registry API on that address (e.g. xae's own
# setup started one), use it.
registry_up() { curl -sf "http://${K8S_REGISTRY}/v2/" >/dev/null; }
if ! is_running registry && registry_up; then
    log "a registry already answers on ${K8S_REGISTRY}; using it"
else
    # The registry's blobs are freed only by its own garbage collector, which must not run
    # while images are pushed: here the registry is not running yet, so it is safe. xae
    # deletes the manifests of the images it collects (docs/gc.md); this frees their layers.
    if ! is_running registry && [[ -d "${K8S_STATE_DIR}/registry/docker" ]]; then
        log "freeing the registry's unreferenced blobs (log: ${LOGS}/registry-gc.log)"
        timeout 300 /usr/bin/docker-registry garbage-collect --delete-untagged \
            "${CONF}/registry.yml" >"${LOGS}/registry-gc.log" 2>&1 ||
            log "registry garbage-collect failed (see ${LOGS}/registry-gc.log); the registry starts anyway"
    fi
    start_bg registry /usr/bin/docker-registry serve "${CONF}/registry.yml"
    wait_for 30 registry registry_up
fi

# ------------------------------------------------------------------ images
# push_image IMAGE BINARY [USER]: a one-file FROM-scratch image (ENTRYPOINT the
# binary, USER default 65532), made with `docker import` and pushed, unless the
# registry already has it.
push_image() {
    local image="$1" bin="$2" user="${3:-65532:65532}" repo tag ctx
    repo="${image#*/}"; tag="${repo##*:}"; repo="${repo%:*}"
    if curl -sf -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://${K8S_REGISTRY}/v2/${repo}/manifests/${tag}"; then
        return 0
    fi
    log "pushing ${image}"
    ctx="$(mktemp -d)"
    install -m 0755 "${K8S_BIN_DIR}/${bin}" "${ctx}/${bin}"
    tar -C "${ctx}" -c "${bin}" |
        docker import -c "ENTRYPOINT [\"/${bin}\"]" -c "USER ${user}" - "${image}" >/dev/null
    rm -rf "${ctx}"
    docker push "${image}" >/dev/null
    # The registry has it now; keep Docker's own image list clean.
    docker rmi "${image}" >/dev/null
}
push_image "${PAUSE_IMAGE}" pause
push_image "${HELLO_IMAGE}" hello-http

# ------------------------------------------------------------------ etcd
start_bg etcd "${K8S_BIN_DIR}/etcd" \
    --name xae \
    --data-dir "${K8S_STATE_DIR}/etcd" \
    --listen-client-urls "http://127.0.0.1:${K8S_ETCD_CLIENT_PORT}" \
    --advertise-client-urls "http://127.0.0.1:${K8S_ETCD_CLIENT_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${K8S_ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${K8S_ETCD_PEER_PORT}" \
    --initial-cluster "xae=http://127.0.0.1:${K8S_ETCD_PEER_PORT}" \
    --quota-backend-bytes $((4 * 1024 * 1024 * 1024))
wait_for 60 etcd curl -sf "http://127.0.0.1:${K8S_ETCD_CLIENT_PORT}/health"

# ------------------------------------------------------------------ kube-apiserver
# Listens on loopback only. It advertises the bridge address, where api-relay
# forwards to it, so pods can reach it through the `kubernetes` service.
start_bg kube-apiserver "${K8S_BIN_DIR}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${K8S_ETCD_CLIENT_PORT}" \
    --bind-address 127.0.0.1 \
    --secure-port "${K8S_API_PORT}" \
    --advertise-address "${K8S_BRIDGE_IP}" \
    --tls-cert-file "${PKI}/apiserver.crt" \
    --tls-private-key-file "${PKI}/apiserver.key" \
    --client-ca-file "${PKI}/ca.crt" \
    --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${PKI}/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "${PKI}/sa.pub" \
    --service-account-signing-key-file "${PKI}/sa.key" \
    --service-cluster-ip-range "${K8S_SERVICE_CIDR}" \
    --requestheader-client-ca-file "${PKI}/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "${PKI}/front-proxy-client.crt" \
    --proxy-client-key-file "${PKI}/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --profiling=false
apiserver_ready() { kubectl_admin get --raw /readyz; }
wait_for 120 kube-apiserver apiserver_ready

start_bg api-relay /usr/bin/socat \
    "TCP-LISTEN:${K8S_API_PORT},bind=${K8S_BRIDGE_IP},reuseaddr,fork" \
    "TCP:127.0.0.1:${K8S_API_PORT}"

# ------------------------------------------------------------------ controllers
start_bg kube-controller-manager "${K8S_BIN_DIR}/kube-controller-manager" \
    --kubeconfig "${CONF}/controller-manager.kubeconfig" \
    --authentication-kubeconfig "${CONF}/controller-manager.kubeconfig" \
    --authorization-kubeconfig "${CONF}/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "${PKI}/sa.key" \
    --root-ca-file "${PKI}/ca.crt" \
    --cluster-signing-cert-file "${PKI}/ca.crt" \
    --cluster-signing-key-file "${PKI}/ca.key" \
    --service-cluster-ip-range "${K8S_SERVICE_CIDR}" \
    --cluster-name xae-local \
    --profiling=false

start_bg kube-scheduler "${K8S_BIN_DIR}/kube-scheduler" \
    --kubeconfig "${CONF}/scheduler.kubeconfig" \
    --authentication-kubeconfig "${CONF}/scheduler.kubeconfig" \
    --authorization-kubeconfig "${CONF}/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 \
    --leader-elect=false \
    --profiling=false

# ------------------------------------------------------------------ containerd
start_bg containerd /usr/bin/containerd --config "${CONF}/containerd.toml"
wait_for 60 containerd ctr --address "${K8S_CONTAINERD_SOCK}" version
cri_loaded() { ctr --address "${K8S_CONTAINERD_SOCK}" plugins ls | grep -Eq 'io\.containerd\.grpc\.v1 +cri +.* ok'; }
wait_for 60 containerd cri_loaded

# ------------------------------------------------------------------ kubelet
# Save the kernel settings the kubelet is about to change (see common.sh), unless
# a kubelet of ours already changed them.
if ! is_running kubelet && [[ ! -f "${SYSCTL_SAVE}" ]]; then
    for k in "${KUBELET_SYSCTLS[@]}"; do echo "${k} $(<"/proc/sys/${k}")"; done >"${SYSCTL_SAVE}"
fi
# The node object (and its Ready condition) survives in etcd across down/up, so
# "Ready" only counts once this kubelet has posted a heartbeat.
kubelet_since=""
is_running kubelet || kubelet_since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kubelet_cmd=("${K8S_BIN_DIR}/kubelet"
    --config "${CONF}/kubelet.yaml"
    --kubeconfig "${CONF}/kubelet.kubeconfig"
    --root-dir "${K8S_STATE_DIR}/kubelet"
    --hostname-override "${K8S_NODE_NAME}"
    --node-ip "${K8S_BRIDGE_IP}"
    --v 1)
start_bg kubelet "${kubelet_cmd[@]}"

# ------------------------------------------------------------------ kube-proxy
start_bg kube-proxy "${K8S_BIN_DIR}/kube-proxy" --config "${CONF}/kube-proxy.yaml"

# ------------------------------------------------------------------ wait + smoke test
node_ready() {
    local status beat
    # A kubelet started while containerd's CRI is still loading its state exits
    # ("server is not initialized yet"); start it again until it stays up.
    is_running kubelet || start_bg kubelet "${kubelet_cmd[@]}"
    read -r status beat < <(kubectl_admin get node "${K8S_NODE_NAME}" -o \
        'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')
    # RFC 3339 UTC timestamps compare as strings.
    [[ "${status}" == True && ! "${beat}" < "${kubelet_since}" ]]
}
wait_for 180 kubelet node_ready
log "node ${K8S_NODE_NAME} is Ready"

# ------------------------------------------------------------------ kube-router
# NetworkPolicy enforcement: kube-router's firewall controller only (no BGP
# routing, no IPVS service proxy: the bridge CNI and kube-proxy do those). It
# reads pods, namespaces and policies and writes filter-table chains
# KUBE-ROUTER-{INPUT,FORWARD,OUTPUT}, KUBE-POD-FW-*, KUBE-NWPLCY-* and ipsets
# KUBE-SRC-*/KUBE-DST-*; down.sh removes them. Started after the node is Ready
# because it reads its own Node object at start and exits if there is none.
# Its RBAC is what the upstream kube-router manifest grants, minus what only its
# router and service proxy use (node/service writes, leases, events).
kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: xae:kube-router
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: xae:kube-router
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: xae:kube-router
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:kube-router
EOF
# --health-port 0: its health server would listen on every interface (there is
# no bind-address option); metrics are off by default. --enable-cni=false: the
# bridge plugin owns the CNI config.
start_bg kube-router "${K8S_BIN_DIR}/kube-router" \
    --kubeconfig "${CONF}/kube-router.kubeconfig" \
    --hostname-override "${K8S_NODE_NAME}" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
    --service-cluster-ip-range "${K8S_SERVICE_CIDR}" \
    --health-port 0 --metrics-port 0
# It hooks its top-level chains into INPUT/FORWARD/OUTPUT when it starts syncing.
kube_router_ready() { is_running kube-router && grep -q -- '-j KUBE-ROUTER-FORWARD' <<<"$(iptables -S FORWARD)"; }
wait_for 60 kube-router kube_router_ready
log "kube-router is enforcing NetworkPolicy"

if [[ "${K8S_SKIP_SMOKE:-0}" != 1 ]]; then
    # The default service account appears once the controller-manager has run.
    wait_for 60 kube-controller-manager kubectl_admin -n default get serviceaccount default
    pod=xae-smoke
    kubectl_admin -n default delete pod "${pod}" --ignore-not-found --wait=true >/dev/null
    kubectl_admin -n default run "${pod}" --image "${HELLO_IMAGE}" --port 8080 \
        --restart Never --labels app=xae-smoke >/dev/null
    if ! kubectl_admin -n default wait --for condition=Ready "pod/${pod}" --timeout 120s >/dev/null; then
        kubectl_admin -n default describe pod "${pod}" >&2 || true
        die "smoke-test pod did not become Ready"
    fi
    ip="$(kubectl_admin -n default get pod "${pod}" -o 'jsonpath={.status.podIP}')"
    answer="$(curl -sf --noproxy "*" --max-time 10 "http://${ip}:8080/")" || die "pod ${pod} at ${ip}:8080 did not answer"
    log "smoke test: pod ${pod} (${HELLO_IMAGE}) at ${ip}:8080 says: ${answer}"
    kubectl_admin -n default delete pod "${pod}" --wait=true >/dev/null
fi

log "cluster up in $(( $(date +%s) - t0 )) s; logs in ${LOGS}"
echo "export KUBECONFIG=${ADMIN_KUBECONFIG}"
