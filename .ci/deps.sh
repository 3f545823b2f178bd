#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests need, when missing.
set -euo pipefail
if ! command -v etcd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq etcd-server >/dev/null
fi
