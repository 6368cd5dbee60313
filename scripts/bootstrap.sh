#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to the point where xae can run: system packages, a running
# dockerd, the Python venv and the locally built base and stack images. Every step checks first
# and skips what is already done, so a second run takes seconds.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

need_pkgs=()
# iptables: xae keeps builds off the host and other containers with its own chains. openssl and
# curl: the TLS tests verify certificates with `openssl verify` and `curl --cacert`, as users do.
# The router is nginx + Lua (docs/router.md): Debian's lua module (it pulls in the ndk module)
# and lua-resty-core, which the module needs for its ngx.* APIs (shared dicts, balancer).
for pair in docker.io:/usr/sbin/dockerd nginx:/usr/sbin/nginx git:/usr/bin/git \
            debootstrap:/usr/sbin/debootstrap wrk:/usr/bin/wrk iptables:/usr/sbin/iptables-restore \
            openssl:/usr/bin/openssl curl:/usr/bin/curl \
            libnginx-mod-http-lua:/usr/lib/nginx/modules/ngx_http_lua_module.so \
            lua-resty-core:/usr/share/lua/5.1/resty/core.lua \
            lua-cjson:/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so; do
  pkg="${pair%%:*}"; bin="${pair#*:}"
  [ -e "$bin" ] || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing system packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" ca-certificates iptables >/dev/null
fi
# Debian's nginx package starts a system nginx on port 80 when installed under systemd; xae runs
# its own nginx with its own config, so the stock one is never needed.

# One bridge network per app: Docker's default address pools hold only ~30 networks, so xae
# gives dockerd room for thousands (a /24 each out of 172.16.0.0/12, which builds may not reach).
# And root in an app image is root only inside a user namespace: with `userns-remap`, dockerd
# maps a container's uids 0-65535 to an unprivileged range of the host (user `dockremap`,
# /etc/subuid), for every container. It keeps images in /var/lib/docker/<uid>.<gid>, so the
# images made before are not seen any more: `images ensure` below makes xae's own again, and
# apps deployed before must be deployed again. XAE_USERNS_REMAP=off leaves it off (xae then
# refuses images that need root).
daemon_json=/etc/docker/daemon.json
remap="${XAE_USERNS_REMAP:-on}"
want_remap=1; [ "$remap" = off ] && want_remap=0
if ! grep -q '"default-address-pools"' "$daemon_json" 2>/dev/null \
   || { [ "$want_remap" = 1 ] && ! grep -q '"userns-remap"' "$daemon_json" 2>/dev/null; }; then
  log "configuring dockerd: address pools for one network per app, userns-remap=$remap ($daemon_json)"
  mkdir -p /etc/docker
  python3 - "$daemon_json" "$want_remap" <<'PY'
import json, os, sys
path, want_remap = sys.argv[1], sys.argv[2] == "1"
conf = json.load(open(path)) if os.path.exists(path) else {}
conf.setdefault("default-address-pools", [{"base": "172.16.0.0/12", "size": 24}])
if want_remap:
    conf.setdefault("userns-remap", "default")
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
PY
  if pid="$(pidof dockerd)"; then
    log "restarting dockerd to apply it (containers with a restart policy come back)"
    kill -TERM $pid
    for _ in $(seq 1 60); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  fi
fi

if ! docker version >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log/xae
  nohup /usr/sbin/dockerd >/var/log/xae/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker version >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/xae/dockerd.log" >&2; exit 1; }
fi

py="${PYTHON:-python3}"
if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  # Debian's own Python ships venv support in a separate package.
  log "installing python3-venv"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ ! -x .venv/bin/xae ] || [ requirements.lock -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  log "installing the Python environment (.venv)"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/pip install -q -r requirements.lock
  .venv/bin/pip install -q --no-deps -e .
  touch .venv/.installed
fi

.venv/bin/python -m xae.builder.images ensure
