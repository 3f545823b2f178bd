# kmirror's make targets. `make demo` builds kmirror and runs it on an
# example; `make test` installs what the tests need and runs them all.

SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin/kmirror
TOOLS   := .ci/tools.sh
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X kmirror.dev/kmirror/cmd.Version=$(VERSION)

.PHONY: all build image demo test unit e2e deps bench bench-serve bench-sync golden fuzz lint fmt clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

# The container image, built without a Docker engine (internal/cmd/kmirror-image, over
# go-containerregistry): an OCI index of PLATFORMS, pushed to IMAGE
# (repo[:tag], the tag defaulting to VERSION; credentials from the Docker
# config, TLS trust from the system or SSL_CERT_FILE) and/or written as an
# OCI layout to OCI_LAYOUT (bin/image when IMAGE is not given). Every
# timestamp is SOURCE_DATE_EPOCH, the last commit's time by default, so a
# commit builds the same digest each time.
IMAGE             ?=
OCI_LAYOUT        ?= $(if $(IMAGE),,bin/image)
PLATFORMS         ?= linux/amd64,linux/arm64
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image:
	$(GO) run ./internal/cmd/kmirror-image --go "$(GO)" --version "$(VERSION)" --revision "$(REVISION)" \
	  --created "$(SOURCE_DATE_EPOCH)" --platforms "$(PLATFORMS)" \
	  $(if $(IMAGE),--push "$(IMAGE)") $(if $(OCI_LAYOUT),--oci-layout "$(OCI_LAYOUT)")

# Build kmirror and rewrite the example manifest with the default rules.
demo: build
	$(BIN) rewrite --diff testdata/example/deployment.yaml
	$(BIN) rewrite testdata/example/deployment.yaml

# Every test: unit, golden, CLI, and the end-to-end tests with a real
# kube-apiserver, kustomize, Helm 3 and 4, registries, and `make image`.
test: lint unit e2e

# The differential decoder test and the locator's fuzz target also run for
# a few seconds each beyond their seeds.
unit: deps
	$(GO) test -count=1 ./...
	$(GO) test ./pkg/manifest/ -run '^$$' -fuzz FuzzReadsAsKubectl -fuzztime 5s
	$(GO) test ./pkg/manifest/ -run '^$$' -fuzz FuzzLocate -fuzztime 5s

# deps installs the system packages the end-to-end tests run: etcd, and
# docker-registry, skopeo and htpasswd for the registry tests.
deps:
	bash .ci/deps.sh

# The tools are built from the module proxy on first use, then cached by
# version (see .ci/tools.sh); the full log goes to bin/e2e.log, a file of this
# checkout's, so two checkouts can test at once.
e2e: deps
	mkdir -p bin; set -o pipefail; \
	apiserver=$$(bash $(TOOLS) kube-apiserver) && \
	kustomize=$$(bash $(TOOLS) kustomize) && \
	helm=$$(bash $(TOOLS) helm) && \
	helm4=$$(bash $(TOOLS) helm4) && \
	KMIRROR_KUBE_APISERVER=$$apiserver KMIRROR_KUSTOMIZE=$$kustomize KMIRROR_HELM=$$helm KMIRROR_HELM4=$$helm4 \
	$(GO) test -count=1 -tags e2e -timeout 30m -v ./internal/testing/e2e/ 2>&1 | tee bin/e2e.log | \
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go:' || \
	{ echo "e2e failed; the end of bin/e2e.log:"; tail -n 150 bin/e2e.log; exit 1; }


bench:
	$(GO) test -run '^$$' -bench 'Rewrite' -benchtime 1x -count 1 ./internal/testing/bench/
	$(GO) test -run '^$$' -bench 'CopyIndex' -benchtime 1x -count 1 ./pkg/registry/

# The swap benchmark runs a distribution registry as the mirror.
bench-serve: deps
	$(GO) test -run '^$$' -bench 'Serve' -benchtime 1x -count 1 -timeout 30m ./internal/testing/loadgen/

# kmirror sync against skopeo sync and skopeo copy, on real registries.
bench-sync: deps
	$(GO) test -run '^$$' -bench 'Sync' -benchtime 1x -count 1 -timeout 30m ./internal/testing/syncbench/

# Refresh the golden files under testdata/ from the current code.
golden:
	$(GO) test ./cmd/ -run TestGolden -update

fuzz:
	$(GO) test ./pkg/mirror/ -run '^$$' -fuzz FuzzDecide -fuzztime 30s
	$(GO) test ./pkg/manifest/ -run '^$$' -fuzz FuzzRewrite -fuzztime 30s
	$(GO) test ./pkg/manifest/ -run '^$$' -fuzz FuzzReadsAsKubectl -fuzztime 30s
	$(GO) test ./pkg/manifest/ -run '^$$' -fuzz FuzzLocate -fuzztime 30s
	$(GO) test ./pkg/krm/ -run '^$$' -fuzz FuzzFunction -fuzztime 30s
	$(GO) test ./pkg/jsonnode/ -run '^$$' -fuzz FuzzParseJSON -fuzztime 30s
	$(GO) test ./pkg/admission/ -run '^$$' -fuzz FuzzHandler -fuzztime 30s

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./internal/testing/e2e/

fmt:
	gofmt -w .

clean:
	rm -rf bin
