#!/usr/bin/env bash
# Build (or reuse) Let's Encrypt's test ACME server, pebble, and its DNS companion
# pebble-challtestsrv, from the Go module proxy, for xae's ACME tests (docs/tls.md).
#
#   scripts/pebble/build.sh        # build what is missing, print the bin dir
#
# Environment (all optional):
#   PEBBLE_VERSION    pebble release            (default v2.10.3)
#   PEBBLE_CACHE_DIR  where binaries are cached (default /var/cache/xae/pebble/$PEBBLE_VERSION)
set -euo pipefail

PEBBLE_VERSION="${PEBBLE_VERSION:-v2.10.3}"
PEBBLE_CACHE_DIR="${PEBBLE_CACHE_DIR:-/var/cache/xae/pebble/${PEBBLE_VERSION}}"
BIN_DIR="${PEBBLE_CACHE_DIR}/bin"
log() { printf '[pebble-build] %s\n' "$*" >&2; }

if [[ -x "${BIN_DIR}/pebble" && -x "${BIN_DIR}/pebble-challtestsrv" ]]; then
    log "cached in ${BIN_DIR}"
    echo "${BIN_DIR}"
    exit 0
fi
command -v go >/dev/null || PATH="/usr/local/go/bin:${PATH}"
command -v go >/dev/null || { log "ERROR: no Go toolchain (go) on PATH"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
export GOPATH="${work}/gopath" GOCACHE="${work}/cache" GOBIN="${work}/bin" CGO_ENABLED=0
export GOFLAGS="-mod=mod -p=1"
nice_=(nice -n 19)
log "building pebble ${PEBBLE_VERSION} from the Go module proxy"
for cmd in pebble pebble-challtestsrv; do
    "${nice_[@]}" go install -trimpath -ldflags "-s -w" \
        "github.com/letsencrypt/pebble/v2/cmd/${cmd}@${PEBBLE_VERSION}"
done
mkdir -p "${BIN_DIR}"
install -m 0755 "${work}/bin/pebble" "${work}/bin/pebble-challtestsrv" "${BIN_DIR}/"
chmod -R u+w "${work}"  # the module cache is read-only; let the trap remove it
log "built into ${BIN_DIR}"
echo "${BIN_DIR}"
