//go:build e2e

// Package e2e runs kmirror against the real tools it works with: a
// kube-apiserver with etcd, kustomize, Helm 3 and Helm 4, distribution
// registries and skopeo; and it builds kmirror's image with `make image`.
// `make e2e` builds those tools (cached by version) and passes their paths
// in KMIRROR_* variables.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// kmirrorBin is the kmirror binary under test, built once by TestMain.
var kmirrorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kmirror-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	kmirrorBin = filepath.Join(dir, "kmirror")
	_, here, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", kmirrorBin, ".")
	build.Dir = filepath.Join(filepath.Dir(here), "..", "..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kmirror:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tool returns the path of a real tool from the environment variable
// name, which `make e2e` sets. A missing tool fails the test: these tests
// exist to run the real thing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := os.Getenv(name)
	if p == "" {
		t.Fatalf("%s is not set; run the end-to-end tests with `make e2e`", name)
	}
	return p
}
