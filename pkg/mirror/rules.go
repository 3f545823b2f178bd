package mirror

import (
	"cmp"
	"errors"
	"fmt"
	"path"
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
	// the walk of manifests reads besides its built-in ones, and the kinds
	// in which it must not find image fields by name (Exclude). The engine
	// only carries them, so that every mode that has the engine has them
	// too; package manifest reads them.
	ImageFields []ImageField
	// ImageValues are the environment variables and command-line flags
	// of containers that pass images to the programs they run.
	ImageValues []ImageValue
}

// ImageField names a field that holds an image, in the objects of a kind;
// or, with Exclude, a kind in which no image field is found by its name.
type ImageField struct {
	// Group is the API group of the objects (the apiVersion before "/");
	// "" matches every group. In an Exclude entry, "*.example.com" is
	// every group under example.com.
	Group string `json:"group,omitempty"`
	// Kind is the kind of the objects; "" matches every kind.
	Kind string `json:"kind,omitempty"`
	// Path leads from the root of an object to the image, in the grammar
	// of package fieldpath: "spec.stages[].runner.image". An Exclude entry
	// has none.
	Path string `json:"path,omitempty"`
	// Exclude: fields are not found by name in the objects of Group and
	// Kind; built-in and declared fields still are.
	Exclude bool `json:"exclude,omitempty"`
}

// ImageValue names the environment variables, or the command-line flag,
// of a container whose values are images that the program it runs
// deploys: an operator's images passed as "RELATED_IMAGE_*" variables or
// "--executor-image" flags. Exactly one of Env and Arg is set.
type ImageValue struct {
	// Env is a pattern of variable names, "*" standing for any run of
	// characters: "*_IMAGE", "STRIMZI_DEFAULT_*_IMAGE".
	Env string `json:"env,omitempty"`
	// Arg is a flag, "--executor-image" or "-entrypoint-image", whose
	// value follows it as "--flag=image" or as the next argument.
	Arg string `json:"arg,omitempty"`
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

// FieldError says which of Rules.ImageFields, or of Rules.ImageValues,
// is wrong.
type FieldError struct {
	// List is "imageFields" or "imageValues"; "" is "imageFields".
	List  string
	Index int
	// Field is the field of the entry at fault: "path", "group", "env".
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s[%d].%s: %v", cmp.Or(e.List, "imageFields"), e.Index, cmp.Or(e.Field, "path"), e.Err)
}

// Unwrap returns the cause, a *fieldpath.SyntaxError for a path.
func (e *FieldError) Unwrap() error { return e.Err }

// checkImageFields checks each entry of Rules.ImageFields.
func checkImageFields(fields []ImageField) error {
	for i, f := range fields {
		if field, err := CheckImageField(f); err != nil {
			return &FieldError{Index: i, Field: field, Err: err}
		}
	}
	return nil
}

// CheckImageField says what is wrong with an entry of imageFields, and in
// which of its fields, or returns nil: a path that could match nothing (a
// *fieldpath.SyntaxError), an exclude entry with a path, a group pattern
// other than "*." and a domain, or one outside an exclude entry.
func CheckImageField(f ImageField) (field string, err error) {
	if strings.Contains(f.Group, "*") {
		rest, ok := strings.CutPrefix(f.Group, "*.")
		if !ok || !f.Exclude || rest == "" || strings.Contains(rest, "*") {
			return "group", fmt.Errorf("%q: only an exclude entry may name a group pattern, written \"*.\" and a domain", f.Group)
		}
	}
	if f.Exclude {
		if f.Path != "" {
			return "path", errors.New("an exclude entry names a group or kind only, not a path")
		}
		return "", nil
	}
	if _, err := fieldpath.Parse(f.Path); err != nil {
		return "path", err
	}
	return "", nil
}

// checkImageValues checks each entry of Rules.ImageValues.
func checkImageValues(values []ImageValue) error {
	for i, v := range values {
		if field, err := CheckImageValue(v); err != nil {
			return &FieldError{List: "imageValues", Index: i, Field: field, Err: err}
		}
	}
	return nil
}

// CheckImageValue says what is wrong with an entry of imageValues, and in
// which of its fields, or returns nil: it names one variable pattern or
// one flag.
func CheckImageValue(v ImageValue) (field string, err error) {
	switch {
	case (v.Env == "") == (v.Arg == ""):
		return "env", errors.New("an entry names one environment variable pattern (env) or one flag (arg)")
	case v.Env != "":
		if _, err := path.Match(v.Env, ""); err != nil || strings.ContainsAny(v.Env, " \t=/[]\\?") {
			return "env", fmt.Errorf("%q is not a variable name, with \"*\" for any characters", v.Env)
		}
	case !strings.HasPrefix(v.Arg, "-") || strings.Trim(v.Arg, "-") == "" || strings.ContainsAny(v.Arg, " \t="):
		return "arg", fmt.Errorf("%q is not a flag such as \"--executor-image\"", v.Arg)
	}
	return "", nil
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
