package krm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/internal/testing/golden"
	"kmirror.dev/kmirror/pkg/krm"
)

// TestGoldenAgreesWithCLI runs the KRM function on every golden case that
// has an expected output: the input's objects become the items of a
// ResourceList, the case's rules its functionConfig. The items must be
// the objects of expected.yaml, the CLI's output, once decoded: the same
// images in the built-in fields and in those the rules declare, and
// nothing else changed.
func TestGoldenAgreesWithCLI(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range cases {
		if c.Expected == nil {
			continue
		}
		ran++
		t.Run(c.Name, func(t *testing.T) {
			objects := documents(t, c.Input)
			var functionConfig *yaml.Node
			if c.Rules != "" {
				data, err := os.ReadFile(c.Rules)
				if err != nil {
					t.Fatal(err)
				}
				functionConfig = documents(t, data)[0]
			}
			out, err := krm.Function{}.Run(encodeResourceList(t, functionConfig, objects))
			if err != nil {
				t.Fatal(err)
			}
			items := decode(t, out.ResourceList).Items.Content
			want := documents(t, c.Expected)
			if len(items) != len(want) {
				t.Fatalf("%d items out, %d documents in expected.yaml", len(items), len(want))
			}
			for i := range want {
				if diff := cmp.Diff(decodeNode(t, want[i]), decodeNode(t, items[i])); diff != "" {
					t.Errorf("document %d (-CLI +KRM):\n%s", i+1, diff)
				}
			}
		})
	}
	if ran == 0 {
		t.Fatal("no golden case has an expected.yaml")
	}
}

// decodeNode decodes n into plain values, for comparison.
func decodeNode(t *testing.T, n *yaml.Node) any {
	t.Helper()
	var v any
	if err := n.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// documents returns the root of each non-empty document of a stream.
func documents(t *testing.T, stream []byte) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	var out []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		out = append(out, doc.Content[0])
	}
}

func encodeResourceList(t *testing.T, functionConfig *yaml.Node, items []*yaml.Node) []byte {
	t.Helper()
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	rl := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("apiVersion"), str("config.kubernetes.io/v1"),
		str("kind"), str("ResourceList"),
		str("items"), {Kind: yaml.SequenceNode, Content: items},
	}}
	if functionConfig != nil {
		rl.Content = append(rl.Content, str("functionConfig"), functionConfig)
	}
	var b bytes.Buffer
	if err := yaml.NewEncoder(&b).Encode(rl); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
