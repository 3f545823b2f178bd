package fieldpath

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Op says what a Step matches.
type Op int

// The steps of a path.
const (
	// Key is the value of one key of a mapping.
	Key Op = iota
	// AnyKey is the value of every key of a mapping.
	AnyKey
	// Each is every entry of a list.
	Each
	// Where is every entry of a list that is a mapping whose key Key
	// holds Value.
	Where
	// Repeat is its Sub path any number of times, none included.
	Repeat
)

// Step is one step of a Path.
type Step struct {
	Op Op
	// Key is the key of a Key or Where step.
	Key string
	// Value is the value a Where step wants.
	Value string
	// Sub is the path a Repeat step repeats.
	Sub Path
}

// Path is a parsed path: the steps from the root of an object to an image.
type Path []Step

// String formats p as it would be written.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		switch s.Op {
		case Key, AnyKey, Repeat:
			if i > 0 {
				b.WriteByte('.')
			}
			switch s.Op {
			case AnyKey:
				b.WriteByte('*')
			case Repeat:
				b.WriteString("(" + s.Sub.String() + ")*")
			default:
				b.WriteString(s.Key)
			}
		case Each:
			b.WriteString("[]")
		case Where:
			b.WriteString("[" + s.Key + "=" + s.Value + "]")
		}
	}
	return b.String()
}

// ErrSyntax is wrapped by every *SyntaxError.
var ErrSyntax = errors.New("invalid field path")

// SyntaxError is a path that cannot match any object.
type SyntaxError struct {
	Path string
	// Column is the position of the fault in Path, counting characters
	// from 1.
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("field path %q, column %d: %s", e.Path, e.Column, e.Msg)
}

// Unwrap lets errors.Is find ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Parse reads a path by the grammar of the package comment.
func Parse(s string) (Path, error) {
	p := &parser{s: s}
	if p.s == "" {
		return nil, p.fail(0, "empty path")
	}
	path, err := p.path(0)
	if err != nil {
		return nil, err
	}
	return path, nil
}

// MustParse is Parse for paths written in code; it panics on an error.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

type parser struct {
	s   string
	pos int // a byte offset in s
}

func (p *parser) fail(at int, format string, args ...any) error {
	return &SyntaxError{Path: p.s, Column: len([]rune(p.s[:at])) + 1, Msg: fmt.Sprintf(format, args...)}
}

// path reads segments up to the end of the text, or to the ")" that
// closes a group when end is ')'. A group must be followed by more of the
// path: the image is never the node a repetition stops at.
func (p *parser) path(end byte) (Path, error) {
	var out Path
	for {
		seg, err := p.segment(end)
		if err != nil {
			return nil, err
		}
		out = append(out, seg...)
		if c := p.peek(); c == 0 || c == end {
			if seg[0].Op == Repeat {
				return nil, p.fail(p.pos, "a repeated group must be followed by the rest of the path (\"(a[].b)*.image\")")
			}
			return out, nil
		}
		// segment stops at ".", the end, or end.
		p.pos++
	}
}

// segment reads a key or "*" and the brackets after it, or a group
// "(...)*"; inside a group, end is ')'.
func (p *parser) segment(end byte) (Path, error) {
	start := p.pos
	if p.peek() == '(' {
		return p.group(end)
	}
	key, err := p.word(".[]=*()")
	if err != nil {
		return nil, err
	}
	var out Path
	switch {
	case key == "" && p.peek() == '*':
		p.pos++
		if c := p.peek(); c != 0 && c != '.' && c != '[' && c != end {
			return nil, p.fail(start, "\"*\" stands alone for any key; it cannot be part of one")
		}
		out = append(out, Step{Op: AnyKey})
	case key == "":
		if c := p.peek(); c == '[' {
			return nil, p.fail(start, "a list step needs the key of the list before it (\"items[]\")")
		}
		return nil, p.fail(start, "empty key")
	case p.peek() == '*':
		return nil, p.fail(p.pos, "\"*\" stands alone for any key; it cannot be part of one")
	case key == "metadata":
		return nil, p.fail(start, "metadata is never walked: images are not read from labels or annotations")
	default:
		out = append(out, Step{Op: Key, Key: key})
	}
	for p.peek() == '[' {
		step, err := p.bracket()
		if err != nil {
			return nil, err
		}
		out = append(out, step)
	}
	return out, p.segmentEnd(end)
}

// segmentEnd checks that a segment ends where it should: at ".", at the
// end, or at end. A group not closed is found where it opens.
func (p *parser) segmentEnd(end byte) error {
	switch c := p.peek(); {
	case c == 0, c == '.', c == end:
		return nil
	default:
		return p.fail(p.pos, "unexpected %q", c)
	}
}

// group reads "(" path ")*": the path, repeated any number of times.
func (p *parser) group(end byte) (Path, error) {
	open := p.pos
	p.pos++
	sub, err := p.path(')')
	if err != nil {
		return nil, err
	}
	if p.peek() != ')' {
		return nil, p.fail(open, "a group opened with \"(\" is not closed with \")*\"")
	}
	p.pos++
	if p.peek() != '*' {
		return nil, p.fail(p.pos, "a group is written \"(...)*\": it repeats any number of times")
	}
	p.pos++
	return Path{{Op: Repeat, Sub: sub}}, p.segmentEnd(end)
}

// bracket reads "[]" or "[key=value]".
func (p *parser) bracket() (Step, error) {
	open := p.pos
	p.pos++
	if p.peek() == ']' {
		p.pos++
		return Step{Op: Each}, nil
	}
	key, err := p.word(".[]=*()")
	if err != nil {
		return Step{}, err
	}
	if key == "" || p.peek() != '=' {
		return Step{}, p.fail(open, "a bracket holds nothing (\"[]\", every entry) or key=value (\"[name=main]\")")
	}
	p.pos++
	value, err := p.word("[]")
	if err != nil {
		return Step{}, err
	}
	if value == "" {
		return Step{}, p.fail(p.pos, "empty value in %q", p.s[open:p.pos])
	}
	if p.peek() != ']' {
		return Step{}, p.fail(open, "%q is not closed with \"]\"", p.s[open:p.pos])
	}
	p.pos++
	return Step{Op: Where, Key: key, Value: value}, nil
}

// word reads up to the next character in stop, or the end, and refuses
// white space.
func (p *parser) word(stop string) (string, error) {
	start := p.pos
	for i, r := range p.s[p.pos:] {
		if strings.ContainsRune(stop, r) {
			p.pos = start + i
			return p.s[start:p.pos], nil
		}
		if unicode.IsSpace(r) {
			return "", p.fail(start+i, "white space in a path")
		}
	}
	p.pos = len(p.s)
	return p.s[start:], nil
}

// peek returns the byte at the position, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}
