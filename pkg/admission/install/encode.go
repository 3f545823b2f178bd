package install

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Write writes objects as a YAML stream: apiVersion and kind first, then
// fields in the order of the API types, without the status and empty
// fields the types carry.
func Write(w io.Writer, objects []any) error {
	for i, obj := range objects {
		data, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encoding object %d: %w", i+1, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("encoding object %d: %w", i+1, err)
		}
		root := doc.Content[0]
		tidy(root)
		plain(root)
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(root); err != nil {
			return fmt.Errorf("encoding object %d: %w", i+1, err)
		}
		if err := enc.Close(); err != nil {
			return err
		}
	}
	return nil
}

// tidy drops the top-level status and empty mappings, and moves
// apiVersion and kind to the top.
func tidy(root *yaml.Node) {
	var head, rest []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case k.Value == "apiVersion":
			head = append([]*yaml.Node{k, v}, head...)
		case k.Value == "kind":
			head = append(head, k, v)
		case k.Value == "status", v.Kind == yaml.MappingNode && len(v.Content) == 0:
		default:
			rest = append(rest, k, v)
		}
	}
	root.Content = append(head, rest...)
}

// plain undoes the JSON styles, so that the encoder writes block YAML and
// quotes only what needs quotes.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}
