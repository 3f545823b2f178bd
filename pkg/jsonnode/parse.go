package jsonnode

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Parse parses a JSON document into the node tree yaml.v3 makes of it.
func Parse(data []byte) (*yaml.Node, error) {
	return new(Arena).Parse(data)
}

// Arena holds the nodes of a parse. A server reuses arenas from request to
// request, so that the garbage collector does not collect a tree for each:
// at thousands of requests a second on a small heap, it would run hundreds
// of times a second. The zero Arena is ready to use.
type Arena struct {
	// MaxNodes, when positive, bounds the nodes of a parse: a document
	// with more fails with ErrTooManyNodes, having made no more than
	// MaxNodes. A server sets it, as a JSON value costs a node of some
	// 150 bytes however short the value is.
	MaxNodes int
	// MaxDepth, when positive, bounds the nesting of objects and arrays:
	// a deeper document fails with ErrTooDeep.
	MaxDepth int

	nodes []yaml.Node
	refs  []*yaml.Node
	stack []*yaml.Node
}

// The errors of a parse that goes over an Arena's limits.
var (
	ErrTooManyNodes = errors.New("too many JSON values")
	ErrTooDeep      = errors.New("nested too deeply")
)

var arenas = sync.Pool{New: func() any { return new(Arena) }}

// GetArena returns an arena from a pool; Release returns it.
func GetArena() *Arena { return arenas.Get().(*Arena) }

// maxPooledNodes bounds the arenas kept for reuse; the arena of a larger
// object is left to the garbage collector.
const maxPooledNodes = 1 << 14

// Release returns a to the pool of GetArena. Nothing may use its trees
// after. The nodes are not cleared: node sets every field the parser uses.
func (a *Arena) Release() {
	if cap(a.nodes) <= maxPooledNodes {
		arenas.Put(a)
	}
}

// Parse parses data with nodes from a. The trees a made before are
// overwritten.
func (a *Arena) Parse(data []byte) (*yaml.Node, error) {
	p := &jsonParser{data: string(data), line: 1, maxNodes: a.MaxNodes, maxDepth: maxDepth}
	if a.MaxDepth > 0 {
		p.maxDepth = min(a.MaxDepth, maxDepth)
	}
	// Allocating the nodes at once saves the garbage collector most of its
	// work; the bound is a little high.
	est := min(ValuesBound(data), 1<<16)
	if a.MaxNodes > 0 {
		est = min(est, a.MaxNodes)
	}
	if cap(a.nodes) < est {
		a.nodes, a.refs = make([]yaml.Node, est), make([]*yaml.Node, est)
	}
	p.slab, p.refs, p.stack = a.nodes[:est], a.refs[:est], a.stack[:0]
	defer func() { a.stack = p.stack[:0] }()
	p.space()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.space(); p.pos < len(p.data) {
		return nil, p.errorf("unexpected %q after the top-level value", p.data[p.pos])
	}
	return n, nil
}

// ParseValues parses data, one JSON value or several separated by white
// space (a stream of objects, as kubectl reads one), and calls fn with the
// tree of each in turn; lines count from the start of data. It stops at
// the first error, from the parser (a *SyntaxError) or from fn. Each tree
// has nodes of its own.
func ParseValues(data []byte, fn func(*yaml.Node) error) error {
	p := &jsonParser{data: string(data), line: 1, maxDepth: maxDepth}
	for {
		if p.space(); p.pos == len(p.data) {
			return nil
		}
		p.slab, p.refs = nil, nil
		n, err := p.value(0)
		if err != nil {
			return err
		}
		if err := fn(n); err != nil {
			return err
		}
	}
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type jsonParser struct {
	data string
	pos  int
	// line is the current line, counting from 1, and lineStart its offset.
	line, lineStart int
	// stack holds the items of the open containers.
	stack []*yaml.Node
	// slab and refs hand out nodes and Content slices, so that they are
	// allocated in batches.
	slab []yaml.Node
	refs []*yaml.Node
	// maxNodes, when positive, and maxDepth are the limits of the parse;
	// made counts the nodes made.
	maxNodes, maxDepth, made int
}

// SyntaxError is JSON that does not parse, or goes over a limit, with
// where.
type SyntaxError struct {
	// Offset counts bytes from 0; Line counts lines from 1.
	Offset, Line int
	Msg          string
	// Err is ErrTooManyNodes or ErrTooDeep for a limit, else nil.
	Err error
}

// Unwrap returns the limit gone over, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

// over is the error of a parse that goes over the limit err.
func (p *jsonParser) over(err error, detail string) error {
	return &SyntaxError{Offset: p.pos, Line: p.line, Msg: err.Error() + ": " + detail, Err: err}
}

func (e *SyntaxError) Error() string {
	if e.Msg == msgEnd {
		return e.Msg
	}
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

const msgEnd = "unexpected end of JSON input"

func (p *jsonParser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// errEnd is the error at the end of the input.
func (p *jsonParser) errEnd() error {
	p.pos = len(p.data)
	return p.errorf(msgEnd)
}

// ValuesBound bounds from above the JSON values of data, and so the nodes
// Parse makes of it: a key and a value for each colon, a value for each
// comma and each container.
func ValuesBound(data []byte) int {
	n := 1
	for _, sep := range valueSeparators {
		n += bytes.Count(data, sep)
	}
	return n
}

var valueSeparators = [][]byte{[]byte(":"), []byte(","), []byte("{"), []byte("[")}

func (p *jsonParser) node(kind yaml.Kind, tag string, style yaml.Style) *yaml.Node {
	if len(p.slab) == 0 {
		p.slab = make([]yaml.Node, 64)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	// The node may hold a tree of an earlier request; value sets the
	// position, and Anchor, Alias and the comments are never set.
	n.Kind, n.Tag, n.Style, n.Value, n.Content = kind, tag, style, "", nil
	return n
}

// content returns a copy of items, cut from refs when they hold enough.
func (p *jsonParser) content(items []*yaml.Node) []*yaml.Node {
	k := len(items)
	if k > len(p.refs) {
		return append([]*yaml.Node(nil), items...)
	}
	c := p.refs[:k:k]
	p.refs = p.refs[k:]
	copy(c, items)
	return c
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.pos++
			p.line, p.lineStart = p.line+1, p.pos
		case ' ', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*yaml.Node, error) {
	line, column := p.line, p.pos-p.lineStart+1
	n, err := p.scalarOrContainer(depth)
	if err != nil {
		return nil, err
	}
	n.Line, n.Column = line, column
	return n, nil
}

func (p *jsonParser) scalarOrContainer(depth int) (*yaml.Node, error) {
	if p.pos >= len(p.data) {
		return nil, p.errEnd()
	}
	if p.made++; p.maxNodes > 0 && p.made > p.maxNodes {
		return nil, p.over(ErrTooManyNodes, fmt.Sprintf("more than %d", p.maxNodes))
	}
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[':
		if depth >= p.maxDepth {
			return nil, p.over(ErrTooDeep, fmt.Sprintf("more than %d levels", p.maxDepth))
		}
		return p.container(depth + 1)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		n := p.node(yaml.ScalarNode, "!!str", yaml.DoubleQuotedStyle)
		n.Value = s
		return n, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range [...]struct{ text, tag string }{{"true", "!!bool"}, {"false", "!!bool"}, {"null", "!!null"}} {
		if strings.HasPrefix(p.data[p.pos:], lit.text) {
			p.pos += len(lit.text)
			n := p.node(yaml.ScalarNode, lit.tag, 0)
			n.Value = lit.text
			return n, nil
		}
	}
	return nil, p.errorf("unexpected %q", p.data[p.pos])
}

// container parses an object or an array, whose opening bracket is at pos.
func (p *jsonParser) container(depth int) (*yaml.Node, error) {
	object := p.data[p.pos] == '{'
	var n *yaml.Node
	closing := byte(']')
	if object {
		n, closing = p.node(yaml.MappingNode, "!!map", yaml.FlowStyle), '}'
	} else {
		n = p.node(yaml.SequenceNode, "!!seq", yaml.FlowStyle)
	}
	p.pos++
	base := len(p.stack)
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == closing {
		p.pos++
		return n, nil
	}
	for {
		if object {
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return nil, p.expected("a string key")
			}
			key, err := p.value(depth)
			if err != nil {
				return nil, err
			}
			if p.space(); p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, p.expected("':'")
			}
			p.pos++
			p.space()
			p.stack = append(p.stack, key)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errEnd()
		}
		if c := p.data[p.pos]; c == closing {
			p.pos++
			break
		} else if c != ',' {
			return nil, p.expected("',' or '" + string(closing) + "'")
		}
		p.pos++
		p.space()
	}
	n.Content = p.content(p.stack[base:])
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	return n, nil
}

func (p *jsonParser) expected(what string) error {
	if p.pos >= len(p.data) {
		return p.errEnd()
	}
	return p.errorf("want %s, got %q", what, p.data[p.pos])
}

// number parses the number at pos, by the JSON grammar.
func (p *jsonParser) number() (*yaml.Node, error) {
	start := p.pos
	float := false
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case !p.digits():
		return nil, p.expected("a digit")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		float = true
		if !p.digits() {
			return nil, p.expected("a digit")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		float = true
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return nil, p.expected("a digit")
		}
	}
	tag := "!!int"
	if float {
		tag = "!!float"
	}
	n := p.node(yaml.ScalarNode, tag, 0)
	n.Value = p.data[start:p.pos]
	return n, nil
}

// digits skips a run of digits and reports whether there was one.
func (p *jsonParser) digits() bool {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}
