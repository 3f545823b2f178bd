package krm

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// ErrConfig is wrapped by every ConfigError.
var ErrConfig = errors.New("invalid functionConfig")

// ConfigError is a functionConfig that kmirror cannot take as rules.
type ConfigError struct {
	// Config names the functionConfig, such as "MirrorRules my-mirror" or
	// "ConfigMap my-mirror data.rules".
	Config string
	// Line is where the problem is, counting from the first line of the
	// functionConfig, or of data.rules; 0 when it is the whole object.
	Line int
	Err  error
}

func (e *ConfigError) Error() string {
	cause := e.Err
	var re *rules.Error
	if errors.As(cause, &re) {
		// The rules error names a file and line of its own, which e
		// says better.
		cause = re.Err
	}
	if e.Line > 0 {
		return fmt.Sprintf("functionConfig %s, line %d: %v", e.Config, e.Line, cause)
	}
	return fmt.Sprintf("functionConfig %s: %v", e.Config, cause)
}

// Unwrap lets errors.Is find ErrConfig, and rules.ErrInvalid when the
// rules are at fault.
func (e *ConfigError) Unwrap() []error { return []error{ErrConfig, e.Err} }

// engine returns the engine that the functionConfig fc asks for: its rules
// when it is a MirrorRules object or a ConfigMap with data.rules, else
// those of fallback. A MirrorRules object without spec, as a ConfigMap
// without data, only declares the function, and takes the fallback too.
func engine(fc *yaml.Node, fallback func() (*mirror.Engine, error)) (*mirror.Engine, error) {
	if isNull(fc) {
		return fallback()
	}
	kind := scalar(lookup(fc, "kind"))
	name := strings.TrimSpace(kind + " " + scalar(lookup(lookup(fc, "metadata"), "name")))
	switch kind {
	case rules.Kind:
		if isNull(lookup(fc, "spec")) {
			return fallback()
		}
		eng, err := rules.FromNode("functionConfig", fc)
		if err != nil {
			return nil, &ConfigError{Config: name, Line: relativeLine(err, fc.Line), Err: err}
		}
		return eng, nil
	case "ConfigMap":
		return configMapEngine(fc, name, fallback)
	}
	return nil, &ConfigError{Config: name, Line: 1, Err: fmt.Errorf(
		"kind is %q; want %s (a rules file) or a ConfigMap whose data.rules holds one", kind, rules.Kind)}
}

// configMapEngine reads the rules in data.rules. A ConfigMap without data
// only declares the function, as kustomize needs an object to, and takes
// the fallback rules.
func configMapEngine(fc *yaml.Node, name string, fallback func() (*mirror.Engine, error)) (*mirror.Engine, error) {
	data := lookup(fc, "data")
	text := lookup(data, "rules")
	if text == nil {
		if isNull(data) || len(data.Content) == 0 {
			return fallback()
		}
		return nil, &ConfigError{Config: name, Line: keyLine(fc, "data") - fc.Line + 1, Err: fmt.Errorf(
			"data has no key \"rules\" (keys: %s)", strings.Join(keys(data), ", "))}
	}
	name += " data.rules"
	if text.Kind != yaml.ScalarNode || text.Tag == "!!null" {
		return nil, &ConfigError{Config: name, Err: errors.New("must be a string that holds a MirrorRules document")}
	}
	eng, err := rules.Parse("data.rules", []byte(text.Value))
	if err != nil {
		return nil, &ConfigError{Config: name, Line: relativeLine(err, 1), Err: err}
	}
	return eng, nil
}

// relativeLine returns the line of a rules error counted from start, the
// line where the rules begin, or 0 when the error has no line.
func relativeLine(err error, start int) int {
	var re *rules.Error
	if !errors.As(err, &re) || re.Line == 0 {
		return 0
	}
	return re.Line - start + 1
}

// keyLine returns the line of key in mapping n.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}

func keys(m *yaml.Node) []string {
	var out []string
	if m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i < len(m.Content); i += 2 {
			out = append(out, m.Content[i].Value)
		}
	}
	sort.Strings(out)
	return out
}
