// Package jsonpatch applies the JSON patches a webhook answers with, for
// tests: "add", "replace" and "remove" on objects, "replace" on list items,
// which is all kmirror's webhook writes.
package jsonpatch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Apply applies the JSON patch to the JSON document doc and returns the
// result, failing t when the patch does not apply.
func Apply(t testing.TB, doc, patch []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    any
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	for _, op := range ops {
		if err := applyOp(&v, op.Op, op.Path, op.Value); err != nil {
			t.Fatalf("applying %s %s: %v", op.Op, op.Path, err)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func applyOp(root *any, op, path string, value any) error {
	keys := strings.Split(path, "/")[1:]
	for i, k := range keys {
		keys[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
	}
	parent := root
	for _, k := range keys[:len(keys)-1] {
		child, err := step(*parent, k)
		if err != nil {
			return err
		}
		parent = child
	}
	last := keys[len(keys)-1]
	switch p := (*parent).(type) {
	case map[string]any:
		_, exists := p[last]
		switch {
		case op == "remove" && exists:
			delete(p, last)
		case op == "add", op == "replace" && exists:
			p[last] = value
		default:
			return fmt.Errorf("no %q", last)
		}
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i >= len(p) || op != "replace" {
			return fmt.Errorf("cannot %s item %q", op, last)
		}
		p[i] = value
	default:
		return fmt.Errorf("parent of %q is not a container", last)
	}
	return nil
}

func step(v any, k string) (*any, error) {
	switch c := v.(type) {
	case map[string]any:
		if _, ok := c[k]; !ok {
			return nil, fmt.Errorf("no %q", k)
		}
		x := c[k]
		// Maps and slices are references; the copy shares their contents.
		return &x, nil
	case []any:
		i, err := strconv.Atoi(k)
		if err != nil || i >= len(c) {
			return nil, fmt.Errorf("no item %q", k)
		}
		return &c[i], nil
	}
	return nil, fmt.Errorf("%q: not a container", k)
}
