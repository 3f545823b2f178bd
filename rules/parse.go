package rules

import (
	"errors"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fieldpath"
	"kmirror.dev/kmirror/pkg/mirror"
)

// parser checks the shape of a rules document field by field, so that each
// error can name its line.
type parser struct {
	file string
}

func (p parser) errorf(n *yaml.Node, format string, args ...any) error {
	return &Error{File: p.file, Line: n.Line, Err: fmt.Errorf(format, args...)}
}

// fields returns the values of mapping n by key, rejecting keys not in
// allowed (nil allows any) and repeated keys. where names n in errors.
func (p parser) fields(n *yaml.Node, where string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s must be a mapping", where)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			return nil, p.errorf(k, "%s: field %q appears twice", where, k.Value)
		}
		if allowed != nil && !contains(allowed, k.Value) {
			return nil, p.errorf(k, "%s: unknown field %q (known: %v)", where, k.Value, allowed)
		}
		out[k.Value] = v
	}
	return out, nil
}

func (p parser) str(n *yaml.Node, where string) (string, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "" && n.Tag != "!!str" && n.Tag != "!!null") {
		return "", p.errorf(n, "%s must be a string", where)
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// rules reads a MirrorRules object. lines[i] maps the fields of rule i
// (and "" for the rule itself) to their lines.
func (p parser) rules(n *yaml.Node) (mirror.Rules, []map[string]int, error) {
	var r mirror.Rules
	top, err := p.fields(n, "rules", "apiVersion", "kind", "metadata", "spec")
	if err != nil {
		return r, nil, err
	}
	for field, want := range map[string]string{"apiVersion": APIVersion, "kind": Kind} {
		v, ok := top[field]
		if !ok {
			return r, nil, p.errorf(n, "missing %s (want %q)", field, want)
		}
		if got, err := p.str(v, field); err != nil || got != want {
			return r, nil, p.errorf(v, "%s is %q, want %q", field, v.Value, want)
		}
	}
	if md, ok := top["metadata"]; ok {
		meta, err := p.fields(md, "metadata")
		if err != nil {
			return r, nil, err
		}
		if name, ok := meta["name"]; ok {
			if r.Name, err = p.str(name, "metadata.name"); err != nil {
				return r, nil, err
			}
		}
	}
	specNode, ok := top["spec"]
	if !ok {
		return r, nil, p.errorf(n, "missing spec")
	}
	spec, err := p.fields(specNode, "spec", "escapePrefix", "mirrors", "imageFields", "imageValues")
	if err != nil {
		return r, nil, err
	}
	r.EscapePrefix = mirror.DefaultEscapePrefix
	if v, ok := spec["escapePrefix"]; ok {
		if r.EscapePrefix, err = p.str(v, "spec.escapePrefix"); err != nil {
			return r, nil, err
		}
		if err := mirror.CheckEscapePrefix(r.EscapePrefix); err != nil {
			return r, nil, p.errorf(v, "spec.escapePrefix: %v", err)
		}
	}
	if v, ok := spec["imageFields"]; ok {
		if r.ImageFields, err = p.imageFields(v); err != nil {
			return r, nil, err
		}
	}
	if v, ok := spec["imageValues"]; ok {
		if r.ImageValues, err = p.imageValues(v); err != nil {
			return r, nil, err
		}
	}
	var lines []map[string]int
	if v, ok := spec["mirrors"]; ok {
		r.Mirrors, lines, err = p.mirrors(v)
	}
	return r, lines, err
}

// imageFields reads spec.imageFields: the fields of custom resources that
// hold images, each with a path that could match, and the kinds excluded
// from the finding of fields by name.
func (p parser) imageFields(n *yaml.Node) ([]mirror.ImageField, error) {
	items, err := p.list(n, "spec.imageFields")
	if err != nil {
		return nil, err
	}
	out := make([]mirror.ImageField, len(items))
	seen := map[mirror.ImageField]int{}
	for i, item := range items {
		where := fmt.Sprintf("spec.imageFields[%d]", i)
		f, err := p.fields(item, where, "group", "kind", "path", "exclude")
		if err != nil {
			return nil, err
		}
		for key, dst := range map[string]*string{"group": &out[i].Group, "kind": &out[i].Kind, "path": &out[i].Path} {
			if v, ok := f[key]; ok {
				if *dst, err = p.str(v, where+"."+key); err != nil {
					return nil, err
				}
			}
		}
		if v, ok := f["exclude"]; ok {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				return nil, p.errorf(v, "%s.exclude must be true or false", where)
			}
			out[i].Exclude = v.Value == "true"
		}
		if !out[i].Exclude && out[i].Path == "" {
			return nil, p.errorf(item, "%s: missing \"path\" (or \"exclude: true\")", where)
		}
		if field, err := mirror.CheckImageField(out[i]); err != nil {
			at := item
			if v, ok := f[field]; ok {
				at = v
			}
			if se := (*fieldpath.SyntaxError)(nil); errors.As(err, &se) {
				return nil, p.errorf(at, "%s.path %q: %s at column %d", where, out[i].Path, se.Msg, se.Column)
			}
			return nil, p.errorf(at, "%s.%s: %v", where, field, err)
		}
		if j, dup := seen[out[i]]; dup {
			return nil, p.errorf(item, "%s repeats spec.imageFields[%d]", where, j)
		}
		seen[out[i]] = i
	}
	return out, nil
}

// imageValues reads spec.imageValues: environment variable patterns and
// flags whose values are images.
func (p parser) imageValues(n *yaml.Node) ([]mirror.ImageValue, error) {
	items, err := p.list(n, "spec.imageValues")
	if err != nil {
		return nil, err
	}
	out := make([]mirror.ImageValue, len(items))
	seen := map[mirror.ImageValue]int{}
	for i, item := range items {
		where := fmt.Sprintf("spec.imageValues[%d]", i)
		f, err := p.fields(item, where, "env", "arg")
		if err != nil {
			return nil, err
		}
		for key, dst := range map[string]*string{"env": &out[i].Env, "arg": &out[i].Arg} {
			if v, ok := f[key]; ok {
				if *dst, err = p.str(v, where+"."+key); err != nil {
					return nil, err
				}
			}
		}
		if field, err := mirror.CheckImageValue(out[i]); err != nil {
			at := item
			if v, ok := f[field]; ok {
				at = v
			}
			return nil, p.errorf(at, "%s: %v", where, err)
		}
		if j, dup := seen[out[i]]; dup {
			return nil, p.errorf(item, "%s repeats spec.imageValues[%d]", where, j)
		}
		seen[out[i]] = i
	}
	return out, nil
}

// list returns the entries of the list n, named where; null is none.
func (p parser) list(n *yaml.Node, where string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return nil, nil
		}
		return nil, p.errorf(n, "%s must be a list", where)
	}
	return n.Content, nil
}

func (p parser) mirrors(n *yaml.Node) ([]mirror.Rule, []map[string]int, error) {
	if n.Kind != yaml.SequenceNode {
		if n.Tag == "!!null" {
			return nil, nil, nil
		}
		return nil, nil, p.errorf(n, "spec.mirrors must be a list")
	}
	rules := make([]mirror.Rule, len(n.Content))
	lines := make([]map[string]int, len(n.Content))
	for i, item := range n.Content {
		where := fmt.Sprintf("spec.mirrors[%d]", i)
		f, err := p.fields(item, where, "from", "to")
		if err != nil {
			return nil, nil, err
		}
		lines[i] = map[string]int{"from": item.Line, "to": item.Line}
		for _, key := range []string{"from", "to"} {
			v, ok := f[key]
			if !ok {
				return nil, nil, p.errorf(item, "%s: missing %q", where, key)
			}
			lines[i][key] = v.Line
			s, err := p.str(v, where+"."+key)
			if err != nil {
				return nil, nil, err
			}
			if key == "from" {
				rules[i].From = s
			} else {
				rules[i].To = s
			}
		}
	}
	return rules, lines, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
