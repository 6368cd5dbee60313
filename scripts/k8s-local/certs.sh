#!/usr/bin/env bash
# Make the cluster's PKI with openssl (sourced by up.sh; safe to run on its own).
#
# One CA signs everything: the API server's serving cert, the kubelet's serving
# cert and one client cert per component. Kubernetes takes a client's user name
# from the cert's CN and its groups from O, so those fields are the identities
# the built-in RBAC roles expect (system:kube-scheduler, system:node:<node>, ...).
# Existing files are kept, so a second `up` reuses the same CA and keys.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh source-path=SCRIPTDIR
source "${HERE}/common.sh"

mkdir -p "${PKI}"
chmod 0700 "${PKI}"
cd "${PKI}"

DAYS=3650

if [[ ! -f ca.key ]]; then
    log "creating CA"
    openssl genrsa -out ca.key 2048 2>/dev/null
    openssl req -x509 -new -key ca.key -days "${DAYS}" -subj "/CN=xae-local-k8s-ca" -out ca.crt
fi

# cert NAME CN ORG SANS KEYUSAGE: a key and a CA-signed cert, unless they exist.
cert() {
    local name="$1" cn="$2" org="$3" sans="$4" usage="$5" subj ext
    [[ -f "${name}.crt" && -f "${name}.key" ]] && return 0
    subj="/CN=${cn}"
    [[ -n "${org}" ]] && subj="/O=${org}${subj}"
    ext="$(mktemp)"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=${usage}"
        [[ -n "${sans}" ]] && echo "subjectAltName=${sans}"
    } >"${ext}"
    openssl genrsa -out "${name}.key" 2048 2>/dev/null
    openssl req -new -key "${name}.key" -subj "${subj}" -out "${name}.csr"
    openssl x509 -req -in "${name}.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
        -days "${DAYS}" -extfile "${ext}" -out "${name}.crt" 2>/dev/null
    rm -f "${name}.csr" "${ext}"
    log "created ${name}.crt (CN=${cn}${org:+, O=${org}})"
}

api_sans="IP:127.0.0.1,IP:${K8S_SERVICE_IP},IP:${K8S_BRIDGE_IP},DNS:localhost"
api_sans+=",DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
api_sans+=",DNS:kubernetes.default.svc.cluster.local"

#    file                     CN                               O               SANs                                     usage
cert apiserver                kube-apiserver                   ""              "${api_sans}"                            serverAuth
cert kubelet-server           "${K8S_NODE_NAME}"               ""              "IP:${K8S_BRIDGE_IP},IP:127.0.0.1,DNS:${K8S_NODE_NAME}" serverAuth
cert admin                    admin                            system:masters  ""                                       clientAuth
# The API server's identity towards kubelets (logs, exec, port-forward).
cert apiserver-kubelet-client kube-apiserver-kubelet-client    system:masters  ""                                       clientAuth
cert controller-manager       system:kube-controller-manager   ""              ""                                       clientAuth
cert scheduler                system:kube-scheduler            ""              ""                                       clientAuth
cert kubelet                  "system:node:${K8S_NODE_NAME}"   system:nodes    ""                                       clientAuth
cert kube-proxy               system:kube-proxy                ""              ""                                       clientAuth
# kube-router's NetworkPolicy controller; no built-in role exists for it, up.sh
# binds this user to the ClusterRole xae:kube-router.
cert kube-router              system:kube-router               ""              ""                                       clientAuth

# The aggregation layer (extension API servers such as metrics-server) trusts
# requests the API server forwards with a client cert from a separate CA.
if [[ ! -f front-proxy-ca.key ]]; then
    openssl genrsa -out front-proxy-ca.key 2048 2>/dev/null
    openssl req -x509 -new -key front-proxy-ca.key -days "${DAYS}" -subj "/CN=xae-local-front-proxy-ca" \
        -out front-proxy-ca.crt
    log "created front-proxy CA"
fi
if [[ ! -f front-proxy-client.crt ]]; then
    ext="$(mktemp)"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=clientAuth" >"${ext}"
    openssl genrsa -out front-proxy-client.key 2048 2>/dev/null
    openssl req -new -key front-proxy-client.key -subj "/CN=front-proxy-client" -out front-proxy-client.csr
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key \
        -CAcreateserial -days "${DAYS}" -extfile "${ext}" -out front-proxy-client.crt 2>/dev/null
    rm -f front-proxy-client.csr "${ext}"
    log "created front-proxy-client.crt"
fi

# Service-account tokens are signed by the API server with sa.key and checked
# with sa.pub (by the API server itself).
if [[ ! -f sa.key ]]; then
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    log "created service-account key pair"
fi
chmod 0600 ./*.key
