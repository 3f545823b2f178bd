#!/usr/bin/env bash
# Builds a real tool that the tests run, from the Go module proxy, and prints
# the path of its binary. Binaries are cached by name and version under
# $KMIRROR_TOOLS (default ~/.cache/kmirror-tools), so a machine builds each
# version once; a fresh machine builds it on first use.
#
#   .ci/tools.sh kube-apiserver|kustomize|helm|helm4
#
# helm is Helm 3 and helm4 is Helm 4; both binaries are called helm, as
# the README runs them, in directories of their own.
set -euo pipefail

KUBE_VERSION=v1.37.2
KUSTOMIZE_VERSION=v5.8.1
HELM_VERSION=v3.22.0
HELM4_VERSION=v4.3.1

cache=${KMIRROR_TOOLS:-$HOME/.cache/kmirror-tools}

# build NAME VERSION MODULE PACKAGE [REPLACE...] builds PACKAGE from MODULE at
# VERSION in a throwaway module, so the project's own go.mod stays untouched.
build() {
  local name=$1 version=$2 module=$3 pkg=$4
  shift 4
  local out=$cache/$name-$version/$name
  if [[ -x $out ]]; then
    echo "$out"
    return
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    go mod init kmirror.dev/tools >/dev/null 2>&1
    go mod edit -require="$module@$version"
    for r in "$@"; do go mod edit -replace="$r"; done
    echo "building $name $version (cached afterwards in $cache)" >&2
    GOFLAGS=-mod=mod go build -trimpath -o "$work/$name" "$pkg" >&2
  )
  mkdir -p "$(dirname "$out")"
  mv "$work/$name" "$out.tmp" && mv "$out.tmp" "$out"
  echo "$out"
}

# Kubernetes' go.mod requires its staging modules at v0.0.0; outside its own
# tree each must be replaced by the published module of the same release.
kube_replaces() {
  local mod staging
  mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  staging=v0${KUBE_VERSION#v1}
  sed -n 's/^[[:space:]]*\(k8s\.io\/[^[:space:]]*\) v0\.0\.0$/\1/p' "$mod" |
    while read -r m; do echo "$m@v0.0.0=$m@$staging"; done
}

case ${1:-} in
kube-apiserver)
  mapfile -t replaces < <(kube_replaces)
  build kube-apiserver "$KUBE_VERSION" k8s.io/kubernetes k8s.io/kubernetes/cmd/kube-apiserver "${replaces[@]}"
  ;;
kustomize)
  build kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 sigs.k8s.io/kustomize/kustomize/v5
  ;;
helm)
  build helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm
  ;;
helm4)
  build helm "$HELM4_VERSION" helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm
  ;;
*)
  echo "usage: $0 kube-apiserver|kustomize|helm|helm4" >&2
  exit 2
  ;;
esac
