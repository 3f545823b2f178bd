#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests need, when missing:
# etcd for the kube-apiserver; docker-registry (CNCF distribution),
# skopeo and htpasswd (apache2-utils) for the registry tests and
# `make bench-sync`; ca-certificates, whose bundle `make image` puts in the
# image; patch, which the diff tests apply kmirror's diffs with (git and
# diff are there already on a machine that cloned the repository).
set -euo pipefail
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v patch >/dev/null || missing+=(patch)
command -v diff >/dev/null || missing+=(diffutils)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
