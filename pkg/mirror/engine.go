package mirror

import (
	"slices"
	"strings"

	"kmirror.dev/kmirror/pkg/image"
)

// Action says why a Decision came out as it did.
type Action string

// The actions, as they appear in reports.
const (
	Mirrored        Action = "mirrored"
	Escaped         Action = "escaped"
	AlreadyMirrored Action = "already mirrored"
	NoRule          Action = "no rule"
	Invalid         Action = "invalid"
	// Kept is never the engine's answer. The walk of a manifest gives it
	// to an image that a rule mirrors but that must stay as written, for
	// the reason in Err: its imagePullPolicy is Never, say. Rule is the
	// rule that would have mirrored it.
	Kept Action = "kept"
	// Templated is never the engine's answer either. The walk gives it to
	// an image whose tag or digest is a placeholder filled in later
	// ("golang:$(params.version)"), where a rule mirrors the registry and
	// repository written before it: Rule is that rule, Result keeps the
	// placeholder as written. No mirroring job can copy such an image,
	// whose tag is known only when it runs.
	Templated Action = "templated"
)

// Decision is the engine's answer for one image.
type Decision struct {
	// Image is the image as given.
	Image string
	// Result is the image to use; it equals Image unless it changed.
	Result string
	Action Action
	// Rule is the rule that decided a Mirrored or AlreadyMirrored image.
	Rule *Rule
	// Err says why an Invalid image is invalid, or why a Kept image is
	// kept.
	Err error
}

// Changed reports whether the decision rewrites the image.
func (d Decision) Changed() bool { return d.Result != d.Image }

// Engine decides images by a fixed set of rules. It is safe for concurrent
// use.
type Engine struct {
	rules Rules
	// mirrors holds the compiled rules, in the order given.
	mirrors []compiled
	// warnings say what is valid in the rules but likely a mistake.
	warnings []string
}

// New validates rules and returns an engine for them. Errors about a single
// rule are *RuleError; about an image field or value, *FieldError.
func New(rules Rules) (*Engine, error) {
	if err := CheckEscapePrefix(rules.EscapePrefix); err != nil {
		return nil, err
	}
	mirrors, err := compile(rules.Mirrors)
	if err != nil {
		return nil, err
	}
	if err := checkImageFields(rules.ImageFields); err != nil {
		return nil, err
	}
	if err := checkImageValues(rules.ImageValues); err != nil {
		return nil, err
	}
	rules.Mirrors = make([]Rule, len(mirrors))
	for i, m := range mirrors {
		rules.Mirrors[i] = m.Rule
	}
	rules.ImageFields = slices.Clone(rules.ImageFields)
	rules.ImageValues = slices.Clone(rules.ImageValues)
	return &Engine{rules: rules, mirrors: mirrors, warnings: sharedTo(mirrors)}, nil
}

// Warnings says what in the rules is valid but likely a mistake: two rules
// that send different sources to the same "to".
func (e *Engine) Warnings() []string { return slices.Clone(e.warnings) }

// Rules returns the engine's rules, with prefixes as normalised by New.
func (e *Engine) Rules() Rules {
	r := e.rules
	r.Mirrors = slices.Clone(r.Mirrors)
	r.ImageFields = slices.Clone(r.ImageFields)
	r.ImageValues = slices.Clone(r.ImageValues)
	return r
}

// Decide returns where img should be pulled from.
func (e *Engine) Decide(img string) Decision {
	d := Decision{Image: img, Result: img, Action: NoRule}
	if p := e.rules.EscapePrefix; p != "" && strings.HasPrefix(img, p) {
		// The prefix comes off before the rest is judged: an escaped
		// image is never mirrored, valid or not. Only an image that is the
		// prefix alone stays, as an empty image would be worse.
		rest := img[len(p):]
		if _, err := image.Parse(rest); err != nil {
			d.Action, d.Err = Invalid, err
			if rest != "" {
				d.Result = rest
			}
			return d
		}
		d.Result, d.Action = rest, Escaped
		return d
	}
	ref, err := image.Parse(img)
	if err != nil {
		d.Action, d.Err = Invalid, err
		return d
	}
	for i := range e.mirrors {
		if _, ok := e.mirrors[i].to.Match(ref); ok {
			d.Action, d.Rule = AlreadyMirrored, &e.rules.Mirrors[i]
			return d
		}
	}
	best, bestRest := -1, ""
	for i := range e.mirrors {
		rest, ok := e.mirrors[i].from.Match(ref)
		if ok && (best < 0 || e.mirrors[i].from.Len() > e.mirrors[best].from.Len()) {
			best, bestRest = i, rest
		}
	}
	if best >= 0 {
		d.Result = e.mirrors[best].to.Written + bestRest
		d.Action, d.Rule = Mirrored, &e.rules.Mirrors[best]
	}
	return d
}
