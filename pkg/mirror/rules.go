package mirror

import (
	"errors"
	"fmt"
	"strings"

	"kmirror.dev/kmirror/pkg/fieldpath"
	"kmirror.dev/kmirror/pkg/image"
)

// DefaultEscapePrefix is the escape prefix when the rules do not name one.
const DefaultEscapePrefix = "direct.to/"

// Rules is the configuration of an Engine.
type Rules struct {
	// Name identifies the rule set in reports, e.g. a preset name.
	Name string
	// EscapePrefix marks an image that must not be mirrored; "" disables it.
	EscapePrefix string
	// Mirrors maps source prefixes to mirror prefixes.
	Mirrors []Rule
	// ImageFields are fields of custom resources that hold images, which
	// the walk of manifests reads besides its built-in ones. The engine
	// only carries them, so that every mode that has the engine has them
	// too; package manifest reads them.
	ImageFields []ImageField
}

// ImageField names a field that holds an image, in the objects of a kind.
type ImageField struct {
	// Group is the API group of the objects (the apiVersion before "/");
	// "" matches every group.
	Group string `json:"group,omitempty"`
	// Kind is the kind of the objects; "" matches every kind.
	Kind string `json:"kind,omitempty"`
	// Path leads from the root of an object to the image, in the grammar
	// of package fieldpath: "spec.stages[].runner.image".
	Path string `json:"path"`
}

// Rule maps one source prefix to a mirror prefix.
type Rule struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// CheckEscapePrefix checks that an escape prefix ends on a path boundary,
// as a rule's "from" does: "direct.to" would also take "direct.toolbox/x"
// for an escape, and turn it into "olbox/x".
func CheckEscapePrefix(p string) error {
	if p != "" && !strings.HasSuffix(p, "/") {
		return fmt.Errorf("%w: %q must end with \"/\" (as in %q), or it would turn %q into %q",
			ErrRule, p, p+"/", p+"box/app", "box/app")
	}
	return nil
}

// ErrRule is wrapped by every RuleError.
var ErrRule = errors.New("invalid rule")

// RuleError says which rule, and which of its fields, is wrong. Index is the
// rule's position in Rules.Mirrors, so a loader can point at its line.
type RuleError struct {
	Index int
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("mirrors[%d].%s: %v", e.Index, e.Field, e.Err)
}

// Unwrap lets errors.Is find both ErrRule and the cause.
func (e *RuleError) Unwrap() []error { return []error{ErrRule, e.Err} }

// FieldError says which of Rules.ImageFields is wrong.
type FieldError struct {
	Index int
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("imageFields[%d].path: %v", e.Index, e.Err)
}

// Unwrap returns the cause, a *fieldpath.SyntaxError.
func (e *FieldError) Unwrap() error { return e.Err }

// checkImageFields checks that the path of each field could match.
func checkImageFields(fields []ImageField) error {
	for i, f := range fields {
		if _, err := fieldpath.Parse(f.Path); err != nil {
			return &FieldError{Index: i, Err: err}
		}
	}
	return nil
}

// compiled is a Rule with its prefixes parsed.
type compiled struct {
	Rule
	from, to image.Prefix
}

func compile(rules []Rule) ([]compiled, error) {
	out := make([]compiled, len(rules))
	seen := map[string]int{}
	for i, r := range rules {
		if r.From == "" {
			return nil, &RuleError{i, "from", errors.New("missing")}
		}
		if r.To == "" {
			return nil, &RuleError{i, "to", errors.New("missing")}
		}
		from, err := image.ParsePrefix(r.From)
		if err != nil {
			return nil, &RuleError{i, "from", err}
		}
		to, err := image.ParsePrefix(r.To)
		if err != nil {
			return nil, &RuleError{i, "to", err}
		}
		key := canonical(from)
		if j, dup := seen[key]; dup {
			return nil, &RuleError{i, "from", fmt.Errorf("%q repeats the from of mirrors[%d]", r.From, j)}
		}
		seen[key] = i
		out[i] = compiled{Rule: Rule{From: from.Written, To: to.Written}, from: from, to: to}
	}
	return out, nil
}

// canonical names a prefix so that two spellings of the same one compare
// equal ("docker.io/" and "index.docker.io/").
func canonical(p image.Prefix) string {
	key := p.Registry + "/"
	for _, c := range p.Path {
		key += c + "/"
	}
	return key
}
