package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/internal/testing/golden"
)

// TestGoldenImagesAgree runs `kmirror images` on every golden case that
// has an expected output: each image it lists must be, at its document and
// path in expected.yaml, the image it says the rewrite pulls, and
// `-o mirror-list` must list the images it says a rule mirrors, and no
// other. So the inventory and the rewrite see the same fields, kept images
// included.
func TestGoldenImagesAgree(t *testing.T) {
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
			args := []string{"images", "-o", "json"}
			if c.Rules != "" {
				args = append(args, "--rules", c.Rules)
			}
			stdout, stderr, code := run(t, string(c.Input), args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var report struct {
				Images []struct {
					Document      int
					Path          string
					Image, Result string
					Action        string
				}
			}
			if err := json.Unmarshal([]byte(stdout), &report); err != nil {
				t.Fatal(err)
			}
			expected := decodeStream(t, c.Expected)
			mirrored := map[string]bool{}
			changed := 0
			for _, img := range report.Images {
				if img.Result != img.Image {
					changed++
				}
				got, ok := valueAt(expected[img.Document-1], img.Path)
				// A field may hold a scheme before the image: docker://, oci://.
				if _, rest, found := strings.Cut(got, "://"); found && img.Action != "invalid" {
					got = rest
				}
				// An argument holds its flag and more besides the image.
				if argument.MatchString(img.Path) && strings.Contains(got, img.Result) {
					got = img.Result
				}
				if !ok || got != img.Result {
					t.Errorf("document %d, %s: expected.yaml holds %q, images says %q (%s)", img.Document, img.Path, got, img.Result, img.Action)
				}
				if img.Action == "mirrored" {
					mirrored[img.Image] = true
				}
			}
			// And no value changes in the rewrite but those images lists.
			if n := changedLeaves(decodeStream(t, c.Input), expected); n != changed {
				t.Errorf("the rewrite changes %d values, images lists %d images that change", n, changed)
			}
			stdout, stderr, code = run(t, string(c.Input), append([]string{"images", "-o", "mirror-list"}, args[3:]...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want := slices.Sorted(maps.Keys(mirrored))
			if diff := cmp.Diff(want, strings.Fields(stdout), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mirror-list (-mirrored images +got):\n%s", diff)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no golden case has an expected.yaml")
	}
}

// argument matches the path of a container's argument.
var argument = regexp.MustCompile(`\.(args|command)\[\d+\]$`)

// changedLeaves counts the values that differ between a and b, which
// have the same shape.
func changedLeaves(a, b any) int {
	switch a := a.(type) {
	case map[string]any:
		n := 0
		for k, v := range a {
			n += changedLeaves(v, b.(map[string]any)[k])
		}
		return n
	case []any:
		n := 0
		for i, v := range a {
			n += changedLeaves(v, b.([]any)[i])
		}
		return n
	}
	if a != b {
		return 1
	}
	return 0
}

// decodeStream decodes the non-empty documents of a YAML or JSON stream.
func decodeStream(t *testing.T, data []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		var v any
		if err := doc.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
}

// valueAt returns the string at a path such as "spec.containers[0].image"
// in a decoded document.
func valueAt(doc any, path string) (string, bool) {
	v := doc
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return "", false
			}
			v = m[key]
		}
		for rest != "" {
			index, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(index)
			list, ok := v.([]any)
			if err != nil || !ok || i >= len(list) {
				return "", false
			}
			v = list[i]
			rest = strings.TrimPrefix(after, "[")
		}
	}
	s, ok := v.(string)
	return s, ok
}
