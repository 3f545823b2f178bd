package krm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kind is the kind of the list a KRM function reads and writes.
const Kind = "ResourceList"

// group is the API group of every version of ResourceList.
const group = "config.kubernetes.io/"

// IsResourceList reports whether data is one ResourceList document, and
// so input for the KRM function rather than a stream of manifests. Data that
// does not parse is not.
func IsResourceList(data []byte) bool {
	if !bytes.Contains(data, []byte(Kind)) {
		return false
	}
	doc, err := parse(data)
	return err == nil && isResourceList(doc.Content[0])
}

func isResourceList(n *yaml.Node) bool {
	return scalar(lookup(n, "kind")) == Kind && strings.HasPrefix(scalar(lookup(n, "apiVersion")), group)
}

// parse decodes data, which must hold one non-empty document.
func parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("reading ResourceList: empty input")
		}
		return nil, fmt.Errorf("reading ResourceList: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("reading ResourceList: line %d: not a mapping", doc.Line)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			return &doc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading ResourceList: %w", err)
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, fmt.Errorf("reading ResourceList: line %d: a second document; a ResourceList comes alone", extra.Content[0].Line)
		}
	}
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}
