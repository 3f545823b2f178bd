// Package rules reads MirrorRules files, and holds the presets that are
// embedded in the binary.
//
// A rules file is one YAML document shaped as a Kubernetes object, so the
// same file can serve as a KRM function's functionConfig:
//
//	apiVersion: kmirror.dev/v1alpha1
//	kind: MirrorRules
//	metadata:
//	  name: example
//	spec:
//	  escapePrefix: direct.to/   # optional; "direct.to/" when absent, "" turns it off
//	  mirrors:
//	  - from: k8s.gcr.io/
//	    to: mirror.example.com/k8s/
//	  imageFields:               # optional: fields of custom resources that hold images
//	  - group: example.com       # optional; matches the group of apiVersion
//	    kind: Stage              # optional
//	    path: spec.stages[].runner.image
//
// Unknown fields, a rule without "from" or "to", a prefix that is not a
// registry or repository, two rules with the same "from", and an image
// field whose path could not match (see package fieldpath) are errors that
// name the file and line.
package rules

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// The identity of a rules document.
const (
	APIVersion = "kmirror.dev/v1alpha1"
	Kind       = "MirrorRules"
)

// Default is the preset used when no rules are given: the reference mirror.
const Default = "nwcd-ecr-cn"

//go:embed *.yaml
var presets embed.FS

// ErrInvalid is wrapped by every error about the content of a rules file.
var ErrInvalid = errors.New("invalid rules")

// MaxFileBytes bounds a rules file: 1 MiB, the most a ConfigMap holds,
// which is where kmirror serve's rules come from in a cluster. Rules for
// every registry there is fit in a few KB.
const MaxFileBytes = 1 << 20

// ErrTooLarge is wrapped by the error about a rules file over MaxFileBytes.
var ErrTooLarge = errors.New("the file is larger than 1 MiB, the most a ConfigMap holds")

// Error points at the place in a rules file that is wrong.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap lets errors.Is find ErrInvalid and the cause.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Presets lists the names of the embedded presets.
func Presets() []string {
	entries, _ := presets.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	sort.Strings(names)
	return names
}

// Load returns an engine for arg: a rules file if one exists at that path,
// else the embedded preset of that name; "" means the Default preset.
func Load(arg string) (*mirror.Engine, error) {
	if arg == "" {
		arg = Default
	}
	data, err := ReadFile(arg)
	if err == nil {
		return Parse(arg, data)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	if data, perr := presets.ReadFile(arg + ".yaml"); perr == nil && !strings.ContainsAny(arg, `/\.`) {
		return Parse("preset "+arg, data)
	}
	return nil, fmt.Errorf("reading rules: no file %q and no preset of that name (presets: %s)",
		arg, strings.Join(Presets(), ", "))
}

// ReadFile is os.ReadFile up to one byte over MaxFileBytes: enough for
// Parse to refuse a larger file, which is not read further.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
}

// Parse reads the rules file named name; one over MaxFileBytes is refused.
func Parse(name string, data []byte) (*mirror.Engine, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Err: ErrTooLarge}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, &Error{File: name, Err: errors.New("empty rules file")}
		}
		return nil, &Error{File: name, Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, &Error{File: name, Line: extra.Line, Err: errors.New("a rules file holds one document")}
	}
	return FromNode(name, doc.Content[0])
}

// FromNode reads rules from a parsed MirrorRules object, such as a KRM
// function's functionConfig. name is used in errors.
func FromNode(name string, n *yaml.Node) (*mirror.Engine, error) {
	p := parser{file: name}
	r, lines, err := p.rules(n)
	if err != nil {
		return nil, err
	}
	eng, err := mirror.New(r)
	var re *mirror.RuleError
	if errors.As(err, &re) {
		return nil, &Error{File: name, Line: lines[re.Index][re.Field], Err: err}
	}
	return eng, err
}

// Encode writes r as a rules file.
func Encode(r mirror.Rules) ([]byte, error) {
	type imageField struct {
		Group string `yaml:"group,omitempty"`
		Kind  string `yaml:"kind,omitempty"`
		Path  string `yaml:"path"`
	}
	type spec struct {
		EscapePrefix string        `yaml:"escapePrefix"`
		Mirrors      []mirror.Rule `yaml:"mirrors"`
		ImageFields  []imageField  `yaml:"imageFields,omitempty"`
	}
	doc := struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   map[string]string `yaml:"metadata"`
		Spec       spec              `yaml:"spec"`
	}{APIVersion, Kind, map[string]string{"name": r.Name}, spec{EscapePrefix: r.EscapePrefix, Mirrors: r.Mirrors}}
	for _, f := range r.ImageFields {
		doc.Spec.ImageFields = append(doc.Spec.ImageFields, imageField(f))
	}
	return yaml.Marshal(doc)
}
