package manifest

import (
	"errors"
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// memo remembers the engine's decisions, for one goroutine. The images of
// a stream repeat from object to object, and a decision costs a parse by
// the reference grammar's regular expressions.
type memo struct {
	eng *mirror.Engine
	m   map[string]mirror.Decision
}

// memoSize bounds a memo; when it is full, it starts over. Longer images
// are not remembered.
const (
	memoSize  = 4096
	memoImage = 512
)

func newMemo(eng *mirror.Engine) *memo {
	return &memo{eng: eng, m: make(map[string]mirror.Decision)}
}

// Decide returns m.eng.Decide(img).
func (m *memo) Decide(img string) mirror.Decision {
	if d, ok := m.m[img]; ok {
		return d
	}
	d := m.eng.Decide(img)
	if len(m.m) >= memoSize {
		clear(m.m)
	}
	if len(img) <= memoImage {
		m.m[img] = d
	}
	return d
}

// decided is the engine's answer for one field of an object, with what
// applying it takes.
type decided struct {
	Field
	Decision mirror.Decision
	// Target is the scalar to set to Decision.Result, or nil when there is
	// nothing to set.
	Target *yaml.Node
	// Left says why a decision that changes the image cannot be applied in
	// place; the image is then left as written, unmirrored.
	Left string
	// Warning says why the image is left as it was, if there is a reason
	// to tell.
	Warning string
}

// decideObject finds the image fields of the document root with wk and
// decides them with decideFields. With an error it returns the line of
// root at fault: a duplicate key's second one, or root's own.
func decideObject(root *yaml.Node, wk *Walk, decide func(string) mirror.Decision) ([]decided, int, error) {
	fields, err := wk.Images(root)
	if err == nil {
		var decisions []decided
		if decisions, err = decideFields(root, fields, decide); err == nil {
			return decisions, root.Line, nil
		}
	}
	var dup *DuplicateKeyError
	var ue *unreadableError
	switch {
	case errors.As(err, &dup):
		return nil, dup.Second, err
	case errors.As(err, &ue):
		return nil, ue.line, err
	}
	return nil, root.Line, err
}

// decideFields decides every image field of one document, whose root is
// root, with decide (Engine.Decide). Both the stream rewriter and the
// Rewriter filter apply its answers, so they agree on every image, alias
// and warning.
func decideFields(root *yaml.Node, fields []Field, decide func(string) mirror.Decision) ([]decided, error) {
	out := make([]decided, len(fields))
	var shared []*decided
	for i, f := range fields {
		if errors.Is(f.NotString, errUnreadable) {
			return nil, f.NotString // kubectl refuses the object
		}
		d := &out[i]
		d.Field = f
		d.Decision = f.Decide(decide)
		if f.Shared {
			shared = append(shared, d)
		}
		if d.Decision.Action == mirror.Invalid {
			d.Warning = d.Decision.Err.Error()
		}
		switch {
		case !d.Decision.Changed():
		case f.Node.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			d.leave("the image is a block scalar (| or >); write it on one line")
		case !f.Shared:
			d.Target = f.Node
		}
	}
	// Reading the whole document for the uses of an anchor is left for
	// the documents where it matters.
	if !slices.ContainsFunc(shared, func(d *decided) bool { return d.Decision.Changed() && d.Left == "" }) {
		return out, nil
	}
	return out, applyShared(root, shared)
}

// applyShared decides whether the fields that share their scalar with an
// anchor, an alias or a merge key, and that the rules change, can be set.
// Setting the scalar sets it wherever it is used: that is right when every
// use is an image field the walk found, all decided alike, and wrong when
// the anchored value is also, say, an argument or a label, or the image of
// a container whose pull policy is Never.
func applyShared(root *yaml.Node, shared []*decided) error {
	fieldsOf := map[*yaml.Node]int{}
	texts := map[*yaml.Node]map[string]bool{}
	for _, d := range shared {
		fieldsOf[d.Node]++
		if texts[d.Node] == nil {
			texts[d.Node] = map[string]bool{}
		}
		texts[d.Node][d.Text(d.Decision.Result)] = true
	}
	uses := make(map[*yaml.Node]int, len(fieldsOf))
	for n := range fieldsOf {
		uses[n] = 0
	}
	if err := countUses(root, uses); err != nil {
		return err
	}
	for _, d := range shared {
		switch {
		case !d.Decision.Changed() || d.Left != "":
			continue
		case len(texts[d.Node]) > 1:
			d.leave("the image comes from a YAML anchor whose image fields would not all get the same value " +
				"(one has pull policy Never, or a scheme such as docker://); write the image out in each field")
			continue
		case uses[d.Node] != fieldsOf[d.Node]:
			d.leave(fmt.Sprintf("the image comes from a YAML anchor that is also used outside image fields (%d uses, %d of them images); "+
				"write the image out, or anchor it only where it is an image", uses[d.Node], fieldsOf[d.Node]))
			continue
		}
		d.Target = d.Node
	}
	return nil
}

// countUses counts, for each node that uses holds, how often it occurs in
// the document root once aliases and merge keys are expanded.
func countUses(root *yaml.Node, uses map[*yaml.Node]int) error {
	steps := 0
	var visit func(n *yaml.Node) error
	visit = func(n *yaml.Node) error {
		if n.Kind == yaml.AliasNode {
			n = deref(n)
		}
		if steps++; steps > maxAliasSteps {
			return errAliasBomb
		}
		if _, ok := uses[n]; ok {
			uses[n]++
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				if err := visit(c); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			ps, err := pairs(n)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if err := visit(p.key); err != nil {
					return err
				}
				if err := visit(p.value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return visit(root)
}

// leave keeps the image as written, for the reason given.
func (d *decided) leave(why string) {
	d.Left = why
	d.Target = nil
	d.Warning = "left unmirrored: " + why
}

// imageText renders the value of an image field that is not a string, for
// reports.
func imageText(n *yaml.Node) string {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		return clip(n.Value)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	var flow yaml.Node
	if yaml.Unmarshal(out, &flow) == nil && len(flow.Content) > 0 {
		setFlow(flow.Content[0])
		if out, err = yaml.Marshal(&flow); err != nil {
			return ""
		}
	}
	return clip(string(trimNewline(out)))
}

func setFlow(n *yaml.Node) {
	n.Style |= yaml.FlowStyle
	for _, c := range n.Content {
		setFlow(c)
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}
