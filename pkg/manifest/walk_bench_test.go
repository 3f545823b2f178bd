package manifest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// BenchmarkWalk walks the documents of the golden cases, with and without
// the finding of fields by name, to measure what it adds to the walk:
// go test -run '^$' -bench Walk -count 8 ./pkg/manifest/
func BenchmarkWalk(b *testing.B) {
	inputs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "*", "input.yaml"))
	if err != nil || len(inputs) == 0 {
		b.Fatalf("no golden inputs: %v", err)
	}
	var docs []*yaml.Node
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			b.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				break // an error case
			}
			if !isEmpty(&doc) {
				docs = append(docs, doc.Content[0])
			}
		}
	}
	for _, wk := range []struct {
		name string
		walk *Walk
	}{{"by-name", builtinWalk}, {"no-infer", builtinWalk.with([]mirror.ImageField{{Exclude: true}}, nil)}} {
		b.Run(wk.name, func(b *testing.B) {
			for b.Loop() {
				for _, d := range docs {
					_, _ = wk.walk.Images(d)
				}
			}
		})
	}
}
