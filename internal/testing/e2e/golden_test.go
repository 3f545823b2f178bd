//go:build e2e

package e2e

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/internal/testing/golden"
)

// operatorCases are the golden cases of the operators' own examples,
// whose fields are found by name, built in, passed to controllers or
// templated, and the look-alikes that must stay.
var operatorCases = []string{
	"spark-operator", "flink-operator", "strimzi", "opentelemetry-operator", "rook", "shipwright", "kubevela",
	"kubeflow-trainer", "cloudnative-pg", "tekton-nested-and-params", "cdi-vddk", "kserve-oci-modes",
	"operator-values", "look-alikes",
}

// TestKustomizeGolden runs kmirror as a KRM function under a real
// `kustomize fn run` on the operators' golden cases, with each case's
// rules as the functionConfig, and holds the objects kustomize writes to
// the expected output of `kmirror rewrite`.
func TestKustomizeGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]golden.Case{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	for _, name := range operatorCases {
		c, ok := byName[name]
		if !ok || c.Expected == nil {
			t.Fatalf("no golden case %s with an expected output", name)
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fn := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kmirror-function\n  annotations:\n" +
				"    config.kubernetes.io/local-config: \"true\"\n    config.kubernetes.io/function: |\n      exec:\n        path: kmirror\n"
			if c.Rules != "" {
				data, err := os.ReadFile(c.Rules)
				if err != nil {
					t.Fatal(err)
				}
				fn += "data:\n  rules: |\n    " + strings.ReplaceAll(strings.TrimSuffix(string(data), "\n"), "\n", "\n    ") + "\n"
			}
			for file, data := range map[string]string{"function.yaml": fn, "input.yaml": string(c.Input)} {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, err := runPipeline(t, dir, "kustomize fn run --enable-exec --dry-run .")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if diff := cmp.Diff(objects(t, string(c.Expected)), objects(t, stdout)); diff != "" {
				t.Errorf("objects (-kmirror rewrite +kustomize fn run):\n%s", diff)
			}
		})
	}
}

// objects decodes the Kubernetes objects of a stream, without the function
// config and the annotations kustomize adds.
func objects(t *testing.T, stream string) []any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(stream))
	var out []any
	for {
		var v map[string]any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not YAML: %v\n%s", err, stream)
		}
		if v == nil || v["kind"] == nil {
			continue // kustomize reads Kubernetes objects only
		}
		if meta, ok := v["metadata"].(map[string]any); ok {
			if meta["name"] == "kmirror-function" {
				continue
			}
			if ann, ok := meta["annotations"].(map[string]any); ok {
				for k := range ann {
					if strings.Contains(k, "config.kubernetes.io/") {
						delete(ann, k)
					}
				}
				if len(ann) == 0 {
					delete(meta, "annotations")
				}
			}
		}
		out = append(out, v)
	}
}
