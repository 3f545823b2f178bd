package krm

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// Function is kmirror as a KRM function.
type Function struct {
	// Rules returns the engine for a ResourceList whose functionConfig
	// names no rules; nil means the default preset.
	Rules func() (*mirror.Engine, error)
}

// Output is what one run of the function produced.
type Output struct {
	// ResourceList is the ResourceList to write back, in the format of the
	// input: YAML, or JSON for a JSON input.
	ResourceList []byte
	// Results are the results the function added to the ResourceList.
	Results framework.Results
	// Images lists every image field of the items, with its decision;
	// Location.Document is the item's position, from 1.
	Images []manifest.Image
}

// Run rewrites the images of the items of the ResourceList data. When the
// functionConfig is not valid rules, the items come back unchanged with an
// error result, and Run returns the output together with a *ConfigError:
// the caller writes the one and fails with the other. Input that is not a
// ResourceList is an error, with no output.
func (f Function) Run(data []byte) (*Output, error) {
	doc, err := parse(data)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if !isResourceList(root) {
		return nil, fmt.Errorf("reading ResourceList: want kind %s of %sv1, not %s %s",
			Kind, group, scalar(lookup(root, "apiVersion")), scalar(lookup(root, "kind")))
	}
	items, err := itemNodes(root)
	if err != nil {
		return nil, err
	}
	out := &Output{}
	eng, results, runErr := f.config(root)
	out.Results = results
	if runErr == nil {
		rw := &manifest.Rewriter{Engine: eng, File: "stdin"}
		if _, err := rw.Filter(items); err != nil {
			return nil, err
		}
		out.Images = rw.Images
		out.Results = append(out.Results, warningResults(items, rw.Images, rw.Warnings)...)
	}
	if err := addResults(root, out.Results); err != nil {
		return nil, err
	}
	if out.ResourceList, err = encode(doc, isJSON(data)); err != nil {
		return nil, err
	}
	return out, runErr
}

// config makes the engine of the functionConfig of the ResourceList root,
// or of f.Rules when it has none, with a warning result for each warning
// of its rules. A functionConfig that does not make one gives the error
// and the result that reports it.
func (f Function) config(root *yaml.Node) (*mirror.Engine, framework.Results, error) {
	fallback := f.Rules
	if fallback == nil {
		fallback = func() (*mirror.Engine, error) { return rules.Load("") }
	}
	fc := lookup(root, "functionConfig")
	eng, err := engine(fc, fallback)
	if err != nil {
		return nil, framework.Results{configResult(fc, err)}, err
	}
	var results framework.Results
	for _, w := range eng.Warnings() {
		results = append(results, &framework.Result{Message: "rules: " + w, Severity: framework.Warning})
	}
	return eng, results, nil
}

// itemNodes returns the items of the ResourceList root.
func itemNodes(root *yaml.Node) ([]*yaml.RNode, error) {
	items := lookup(root, "items")
	if isNull(items) {
		return nil, nil
	}
	if items.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("reading ResourceList: line %d: items must be a list", items.Line)
	}
	nodes := make([]*yaml.RNode, len(items.Content))
	for i, n := range items.Content {
		nodes[i] = yaml.NewRNode(n)
	}
	return nodes, nil
}

// addResults appends results to those the ResourceList root already holds.
func addResults(root *yaml.Node, results framework.Results) error {
	if len(results) == 0 {
		return nil
	}
	var seq yaml.Node
	if err := seq.Encode(results); err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if old := lookup(root, "results"); old != nil && old.Kind == yaml.SequenceNode {
		old.Content = append(old.Content, seq.Content...)
		return nil
	} else if old != nil {
		*old = seq
		return nil
	}
	root.Content = append(root.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "results"}, &seq)
	return nil
}

// isJSON reports whether data is a JSON document, to be answered in JSON.
func isJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

func encode(doc *yaml.Node, asJSON bool) ([]byte, error) {
	if asJSON {
		var v any
		if err := doc.Decode(&v); err != nil {
			return nil, fmt.Errorf("encoding ResourceList: %w", err)
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encoding ResourceList: %w", err)
		}
		return append(out, '\n'), nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding ResourceList: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding ResourceList: %w", err)
	}
	return b.Bytes(), nil
}
