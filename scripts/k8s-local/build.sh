#!/usr/bin/env bash
# Build (or reuse) the binaries of a single-node Kubernetes from the Go module proxy.
#
#   scripts/k8s-local/build.sh            # build what is missing, print the bin dir
#
# Kubernetes: a throwaway module that requires k8s.io/kubernetes at one pinned
# v1.33.x release. k8s.io/kubernetes' go.mod requires its staging modules
# (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and points them at ./staging with
# `replace` directives, which are ignored when it is used as a dependency; so our
# module `replace`s every one of them with its published v0.33.x twin.
# etcd: a second throwaway module whose main() calls etcdmain.Main, the same thing
# the upstream etcd binary does.
# kube-router: a third throwaway module that builds kube-router's own cmd package
# (only its NetworkPolicy controller is run, see up.sh), with some dependencies
# raised above what kube-router's go.mod asks for (KUBE_ROUTER_BUMPS below).
#
# Environment (all optional):
#   K8S_VERSION      Kubernetes release              (default v1.33.13)
#   ETCD_VERSION     etcd server release             (default v3.5.21, the client k8s 1.33 pins)
#   KUBE_ROUTER_VERSION  kube-router release         (default v2.1.0, the only v2 the proxy serves here)
#   K8S_CACHE_DIR    where binaries are cached       (default /var/cache/xae/k8s/$K8S_VERSION)
#   K8S_BUILD_JOBS   go build -p                     (default 1: other work shares this machine)
#   K8S_FORCE_BUILD  1 = rebuild even if cached
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.33.13}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
K8S_CACHE_DIR="${K8S_CACHE_DIR:-/var/cache/xae/k8s/${K8S_VERSION}}"
K8S_BUILD_JOBS="${K8S_BUILD_JOBS:-1}"
BIN_DIR="${K8S_CACHE_DIR}/bin"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The staging modules are published as v0.<minor>.<patch> for k8s v1.<minor>.<patch>.
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
ALL_BINS=("${K8S_CMDS[@]}" etcd kube-router pause hello-http)

log() { printf '[k8s-build] %s\n' "$*" >&2; }

# Everything we compile runs at the lowest CPU priority, one package at a time by
# default, so tests other people run on this small machine are not starved.
GO_NICE=(nice -n 19)
if command -v ionice >/dev/null; then GO_NICE=(ionice -c 3 "${GO_NICE[@]}"); fi
export GOFLAGS="-p=${K8S_BUILD_JOBS} -mod=mod"
# Static, libc-free binaries (this is how upstream builds them too), so the pause
# and test images can be FROM scratch.
export CGO_ENABLED=0

missing=()
for b in "${ALL_BINS[@]}"; do
    [[ -x "${BIN_DIR}/${b}" ]] || missing+=("$b")
done
for b in pause hello-http; do
    if [[ "${HERE}/images/${b}/main.go" -nt "${BIN_DIR}/${b}" ]]; then missing+=("$b"); fi
done
if [[ "${K8S_FORCE_BUILD:-0}" != 1 && ${#missing[@]} -eq 0 ]]; then
    log "all binaries cached in ${BIN_DIR}; skipping build"
    echo "${BIN_DIR}"
    exit 0
fi
log "missing: ${missing[*]:-none (forced)}"
mkdir -p "${BIN_DIR}"

work="$(mktemp -d /tmp/xae-k8s-build.XXXXXX)"
trap 'rm -rf "${work}"' EXIT
start=$(date +%s)

need() { # need NAME...: true if any of NAME is missing (or a rebuild is forced)
    local n
    [[ "${K8S_FORCE_BUILD:-0}" == 1 ]] && return 0
    for n in "$@"; do [[ -x "${BIN_DIR}/${n}" ]] || return 0; done
    return 1
}

# ---------------------------------------------------------------- kubernetes
if need "${K8S_CMDS[@]}"; then
    log "building Kubernetes ${K8S_VERSION} (staging modules ${STAGING_VERSION}), go build -p ${K8S_BUILD_JOBS}"
    mkdir -p "${work}/k8s"
    cd "${work}/k8s"
    go mod init xae.local/k8sbuild >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
    # The list of staging modules is read from k8s.io/kubernetes' own go.mod: every
    # `k8s.io/X => ./staging/src/k8s.io/X` line becomes `k8s.io/X => k8s.io/X v0.33.x`.
    go mod download "k8s.io/kubernetes@${K8S_VERSION}"
    kmod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod"
    mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "${kmod}")
    for m in "${staging[@]}"; do
        go mod edit -replace="${m}=${m}@${STAGING_VERSION}"
    done
    log "replaced ${#staging[@]} staging modules with ${STAGING_VERSION}"
    # A blank-import file makes `go mod tidy` resolve every package we build.
    {
        echo "//go:build tools"
        echo "package tools"
        echo "import ("
        for c in "${K8S_CMDS[@]}"; do echo "    _ \"k8s.io/kubernetes/cmd/${c}\""; done
        echo ")"
    } >tools.go
    "${GO_NICE[@]}" go mod tidy -e >/dev/null 2>"${work}/tidy.log" || { cat "${work}/tidy.log" >&2; exit 1; }
    # What `kubectl version` and the node status report (upstream sets these from git).
    minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    ldflags=()
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=("-X ${pkg}.gitVersion=${K8S_VERSION}" "-X ${pkg}.gitMajor=1"
                  "-X ${pkg}.gitMinor=${minor}" "-X ${pkg}.gitTreeState=clean"
                  "-X ${pkg}.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
    done
    pkgs=()
    for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${c}"); done
    # One `go build` for all six shares the compilation of their common packages.
    "${GO_NICE[@]}" go build -trimpath -ldflags "-s -w ${ldflags[*]}" -o "${work}/out/" "${pkgs[@]}"
    for c in "${K8S_CMDS[@]}"; do install -m 0755 "${work}/out/${c}" "${BIN_DIR}/${c}"; done
fi

# ---------------------------------------------------------------------- etcd
if need etcd; then
    log "building etcd ${ETCD_VERSION}"
    mkdir -p "${work}/etcd"
    cd "${work}/etcd"
    go mod init xae.local/etcdbuild >/dev/null 2>&1
    cat >main.go <<'EOF'
// The upstream etcd binary's main, in a module of our own.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
    go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    "${GO_NICE[@]}" go mod tidy >/dev/null
    "${GO_NICE[@]}" go build -trimpath -ldflags "-s -w" -o "${work}/out/etcd" .
    install -m 0755 "${work}/out/etcd" "${BIN_DIR}/etcd"
fi

# --------------------------------------------------------------- kube-router
# kube-router v2.1.0 (early 2024) pins dependencies with known advisories (x/net
# HTTP/2 CONTINUATION flood CVE-2023-45288, protobuf-go protojson loop
# CVE-2024-24786, grpc-go, docker/docker CVE-2024-41110 which scanners flag on the
# module, ...). The throwaway module raises them to the newest versions the module proxy
# served on 2026-11-27 with which kube-router still compiles. Exact versions,
# not @latest: newer releases of some modules already need go >= 1.27.
#   golang.org/x/net          v0.21.0  -> v0.62.0
#   golang.org/x/crypto       (indirect) -> v0.59.0
#   golang.org/x/sys          v0.17.0  -> v0.50.0   (x/term, x/text, x/oauth2, x/time too)
#   google.golang.org/grpc    v1.62.0  -> v1.85.0   (+ genproto/googleapis/rpc)
#   google.golang.org/protobuf v1.32.0 -> v1.36.12
#   go.opentelemetry.io/otel  v1.24.0  -> v1.47.0   (+ otelhttp v0.72.0, otlptracehttp)
#   github.com/docker/docker  v25.0.3  -> v28.5.2   (only its client is linked)
#   github.com/prometheus/client_golang v1.19.0 -> v1.25.0
#   github.com/sirupsen/logrus v1.9.3  -> v1.10.2
#   github.com/osrg/gobgp/v3  v3.23.0  -> v3.37.0   (BGP; not run here, --run-router=false)
#   k8s.io/{api,apimachinery,client-go,cri-api} v0.29.2 -> v0.29.15 (latest 0.29 patch;
#       a newer minor changes client-go behaviour kube-router 2.1 was not tested with)
# Left alone on purpose: github.com/coreos/go-iptables v0.7.0 and
# github.com/vishvananda/netlink (v1.2.1 via gobgp): they ARE the firewall code
# path, and their newer minors change behaviour (netlink 1.3 returns
# ErrDumpInterrupted with partial results) for no known security fix.
KUBE_ROUTER_BUMPS=(
    golang.org/x/net@v0.62.0 golang.org/x/crypto@v0.59.0 golang.org/x/sys@v0.50.0
    golang.org/x/term@v0.48.0 golang.org/x/text@v0.44.0 golang.org/x/oauth2@v0.38.0
    golang.org/x/time@v0.16.0
    google.golang.org/grpc@v1.85.0 google.golang.org/protobuf@v1.36.12
    google.golang.org/genproto/googleapis/rpc@v0.0.0-20261110000943-09e21b237f2c
    go.opentelemetry.io/otel@v1.47.0
    go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.72.0
    go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp@v1.47.0
    github.com/docker/docker@v28.5.2+incompatible
    # docker/docker has no go.mod (+incompatible): pin the modules its client
    # imports, or `go build` would look them up at @latest.
    github.com/containerd/errdefs@v1.0.0 github.com/containerd/errdefs/pkg@v0.3.0
    github.com/moby/docker-image-spec@v1.3.1
    github.com/prometheus/client_golang@v1.25.0 github.com/sirupsen/logrus@v1.10.2
    github.com/osrg/gobgp/v3@v3.37.0
    k8s.io/api@v0.29.15 k8s.io/apimachinery@v0.29.15 k8s.io/client-go@v0.29.15 k8s.io/cri-api@v0.29.15
)
if need kube-router; then
    log "building kube-router ${KUBE_ROUTER_VERSION} (with ${#KUBE_ROUTER_BUMPS[@]} dependency bumps)"
    mkdir -p "${work}/kube-router"
    cd "${work}/kube-router"
    go mod init xae.local/kuberouterbuild >/dev/null 2>&1
    kr=github.com/cloudnativelabs/kube-router/v2
    # `go get PACKAGE` (not `go mod tidy`) adds only what building that package
    # needs, so no module is resolved at @latest behind our back.
    "${GO_NICE[@]}" go get "${kr}/cmd/kube-router@${KUBE_ROUTER_VERSION}" 2>"${work}/get.log" ||
        { cat "${work}/get.log" >&2; exit 1; }
    "${GO_NICE[@]}" go get "${KUBE_ROUTER_BUMPS[@]}" 2>"${work}/get.log" || { cat "${work}/get.log" >&2; exit 1; }
    "${GO_NICE[@]}" go build -trimpath \
        -ldflags "-s -w -X ${kr}/pkg/version.Version=${KUBE_ROUTER_VERSION} -X ${kr}/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        -o "${work}/out/kube-router" "${kr}/cmd/kube-router"
    install -m 0755 "${work}/out/kube-router" "${BIN_DIR}/kube-router"
fi

# ------------------------------------------ pause and the test HTTP server
# Tiny static programs that become FROM-scratch images in the local registry
# (nothing can be pulled from registry.k8s.io here).
for prog in pause hello-http; do
    # These two are rebuilt whenever their source changed (a few seconds each).
    if need "${prog}" || [[ "${HERE}/images/${prog}/main.go" -nt "${BIN_DIR}/${prog}" ]]; then
        log "building ${prog}"
        mkdir -p "${work}/${prog}"
        cp "${HERE}/images/${prog}/main.go" "${work}/${prog}/"
        (cd "${work}/${prog}" && go mod init "xae.local/${prog}" >/dev/null 2>&1 &&
            "${GO_NICE[@]}" go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/${prog}" .)
    fi
done

printf '%s\n' "${K8S_VERSION}" >"${K8S_CACHE_DIR}/VERSION"
log "build finished in $(( $(date +%s) - start )) s"
echo "${BIN_DIR}"
