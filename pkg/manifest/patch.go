package manifest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// locator turns the line and column of a node into a byte offset in the
// text the node was parsed from, counting lines and columns exactly as the
// parser did. yaml.v3 ends a line at "\r\n", "\r", "\n", U+0085, U+2028
// and U+2029, and counts columns in characters; package jsonnode ends a
// line at "\n" only and counts columns in bytes. Offsets are asked for in
// increasing order, so the locator moves forward through the text once.
type locator struct {
	data []byte
	json bool
	// base is added to the offsets of edits: where data is in its part.
	base int
	// pos is the offset of line:column.
	pos, line, column int
}

func newLocator(data []byte, json bool) *locator {
	l := &locator{data: data, json: json, line: 1, column: 1}
	// yaml.v3 skips a byte order mark before counting.
	if !json && bytes.HasPrefix(data, bom) {
		l.pos = len(bom)
	}
	return l
}

var bom = []byte("\xef\xbb\xbf")

// offset returns the offset of line:column, or false when the text has no
// such place.
func (l *locator) offset(line, column int) (int, bool) {
	if line < l.line || line == l.line && column < l.column {
		base := l.base
		*l = *newLocator(l.data, l.json)
		l.base = base
	}
	for l.line < line {
		if l.pos >= len(l.data) {
			return 0, false
		}
		l.pos += l.step()
	}
	for l.column < column {
		if l.pos >= len(l.data) || breakLen(l.data[l.pos:], l.json) > 0 {
			return 0, false
		}
		size := 1
		if !l.json {
			_, size = utf8.DecodeRune(l.data[l.pos:])
		}
		l.pos += size
		l.column++
	}
	return l.pos, true
}

// step moves past one character and returns its length, counting a line
// break.
func (l *locator) step() int {
	if n := breakLen(l.data[l.pos:], l.json); n > 0 {
		l.line++
		l.column = 1
		return n
	}
	l.column++
	if l.json {
		return 1
	}
	_, size := utf8.DecodeRune(l.data[l.pos:])
	return size
}

// breakLen returns the length of the line break at the start of b, or 0.
func breakLen(b []byte, json bool) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '\n':
		return 1
	case '\r':
		if json {
			return 0
		}
		if len(b) > 1 && b[1] == '\n' {
			return 2
		}
		return 1
	case 0xc2:
		if !json && len(b) > 1 && b[1] == 0x85 {
			return 2
		}
	case 0xe2:
		if !json && len(b) > 2 && b[1] == 0x80 && (b[2] == 0xa8 || b[2] == 0xa9) {
			return 3
		}
	}
	return 0
}

// countBreaks counts the line breaks of YAML in b.
func countBreaks(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if k := breakLen(b[i:], false); k > 0 {
			n++
			i += k
			continue
		}
		i++
	}
	return n
}

// cannotEdit is an image written in a form that an edit in place does not
// handle: the image is left, for the reason given.
type cannotEdit string

func (e cannotEdit) Error() string { return string(e) }

// locate returns the edit that sets scalar n to value, in the quoting style
// n was written in. Before it returns, it checks that the bytes it would
// replace are the scalar as written: decoded, they equal n's value. A
// cannotEdit error is a scalar written in a form the edit does not handle;
// any other error would have edited the wrong bytes, or would write a value
// kubectl reads otherwise, and the caller must refuse the stream.
func (l *locator) locate(n *yaml.Node, value string) (Edit, error) {
	at, ok := l.offset(n.Line, n.Column)
	if !ok {
		return Edit{}, fmt.Errorf("line %d, column %d of the image is not in the document", n.Line, n.Column)
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!binary":
			value = base64.StdEncoding.EncodeToString([]byte(value))
		case "!!timestamp", "!!int", "!!float", "!!bool", "!!null":
			return Edit{}, fmt.Errorf("the image is tagged %s, which no other image could be written under; remove the tag", n.Tag)
		}
	}
	data := l.data
	pos := l.skipProperties(at)
	rest := data[pos:]
	var e Edit
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case yaml.DoubleQuotedStyle:
		end := quotedEnd(rest, '"')
		if end < 0 {
			return Edit{}, misplaced(n, rest)
		}
		e = Edit{pos, pos + end, l.doubleQuoted(value)}
	case yaml.SingleQuotedStyle:
		end := quotedEnd(rest, '\'')
		if end < 0 {
			return Edit{}, misplaced(n, rest)
		}
		e = Edit{pos, pos + end, singleQuoted(value)}
	case 0:
		end := len(n.Value)
		if !bytes.HasPrefix(rest, []byte(n.Value)) || !plainEnds(rest[end:]) {
			first := rest
			for i := range first {
				if breakLen(first[i:], false) > 0 {
					first = first[:i]
					break
				}
			}
			if first = bytes.TrimRight(first, " \t"); len(first) > 0 && strings.HasPrefix(n.Value, string(first)) {
				return Edit{}, cannotEdit("the image is a plain scalar over several lines; write it on one line")
			}
			return Edit{}, misplaced(n, rest)
		}
		e = Edit{pos, pos + end, plain(value)}
	default:
		return Edit{}, cannotEdit(fmt.Sprintf("the image is written in scalar style %d", n.Style))
	}
	if err := l.check(n, data[e.Start:e.End]); err != nil {
		return Edit{}, err
	}
	e.Start, e.End = e.Start+l.base, e.End+l.base
	return e, nil
}

// skipProperties returns where the scalar whose node is at offset at
// starts. A node's position is that of its anchor ("&a") or tag ("!!str")
// when it has them, and the scalar may follow them after white space, a
// comment and line breaks. A scalar never starts with "&", "!" or "#".
func (l *locator) skipProperties(at int) int {
	data := l.data
	for at < len(data) {
		switch c := data[at]; {
		case c == '&' || c == '!':
			at += propertyLen(data[at:])
		case c == ' ' || c == '\t':
			at++
		case c == '#':
			for at < len(data) && breakLen(data[at:], l.json) == 0 {
				at++
			}
		default:
			k := breakLen(data[at:], l.json)
			if k == 0 {
				return at
			}
			at += k
		}
	}
	return at
}

// propertyLen returns the length of the anchor or tag at the start of b:
// up to white space or a line break, which separate it from a scalar that
// has a value ("!,x" is a tag in a block), or through the ">" of a
// verbatim tag ("!<tag:yaml.org,2002:str>").
func propertyLen(b []byte) int {
	if bytes.HasPrefix(b, []byte("!<")) {
		if i := bytes.IndexByte(b, '>'); i > 0 {
			return i + 1
		}
	}
	i := 1
	for i < len(b) && breakLen(b[i:], false) == 0 && b[i] != ' ' && b[i] != '\t' {
		i++
	}
	return i
}

// check is the guard of every edit: written, the bytes to replace must be
// the scalar n.
func (l *locator) check(n *yaml.Node, written []byte) error {
	if got, err := l.decode(n, written); err != nil || got != n.Value {
		return misplaced(n, written)
	}
	return nil
}

// misplaced is the error of an edit that would not replace the scalar n,
// but the bytes found.
func misplaced(n *yaml.Node, found []byte) error {
	if i := bytes.IndexAny(found, "\r\n"); i >= 0 {
		found = found[:i]
	}
	return fmt.Errorf("the image at column %d is not where the parser put it (found %q); kmirror refuses to edit rather than risk another value",
		n.Column, clip(string(found)))
}

// decode reads the scalar written as b in the style of n.
func (l *locator) decode(n *yaml.Node, b []byte) (string, error) {
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0 && l.json:
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if inner := b[1 : len(b)-1]; !bytes.ContainsAny(inner, "\\\r\n\u0085\u2028\u2029") {
			return string(inner), nil
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if inner := b[1 : len(b)-1]; !bytes.ContainsAny(inner, "\r\n\u0085\u2028\u2029") {
			return strings.ReplaceAll(string(inner), "''", "'"), nil
		}
	default:
		return string(b), nil
	}
	var s string
	err := yaml.Unmarshal(b, &s)
	return s, err
}

// plain returns value to be written as a plain scalar, or quoted when a
// YAML decoder would read it as something other than that string: a
// number, a date, a boolean (in YAML 1.2, or in the YAML 1.1 that kubectl
// reads, where "on" and "no" are booleans).
func plain(value string) string {
	if isPlainString(value) {
		return value
	}
	return strconv.Quote(value)
}

func isPlainString(value string) bool {
	if isPlainImage(value) {
		return true
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(value), &n); err != nil || len(n.Content) != 1 {
		return false
	}
	s := n.Content[0]
	if _, tag := resolved("", value); tag != "!!str" {
		return false // a YAML 1.1 boolean, number, date or null, to kubectl
	}
	return s.Kind == yaml.ScalarNode && s.Tag == "!!str" && s.Style == 0 && s.Value == value && !yaml.IsValueNonString(value)
}

// isPlainImage is the fast way out for every mirrored image: it starts
// with a letter or a digit, holds a slash, which no YAML number, date,
// boolean or null has, and nothing that could end a plain scalar or start
// a comment.
func isPlainImage(value string) bool {
	if value == "" || !isAlnum(value[0]) || value[len(value)-1] == ':' || !strings.Contains(value, "/") {
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("#,[]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// doubleQuoted writes value as a double-quoted string, for JSON when the
// text is JSON.
func (l *locator) doubleQuoted(value string) string {
	if !l.json {
		return strconv.Quote(value)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(value) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// singleQuoted writes value as a single-quoted string, or double-quoted
// when single quotes cannot hold it: a line break would fold, and other
// control characters cannot be written there.
func singleQuoted(value string) string {
	for _, r := range value {
		if r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff {
			return strconv.Quote(value)
		}
	}
	return "'" + strings.ReplaceAll(value, "'", "''") + "'"
}

// quotedEnd returns the length of the quoted scalar at the start of b,
// quotes included, or -1.
func quotedEnd(b []byte, quote byte) int {
	if len(b) == 0 || b[0] != quote {
		return -1
	}
	for i := 1; i < len(b); i++ {
		switch {
		case quote == '"' && b[i] == '\\':
			i++
		case b[i] == quote && quote == '\'' && i+1 < len(b) && b[i+1] == '\'':
			i++
		case b[i] == quote:
			return i + 1
		}
	}
	return -1
}

// plainEnds reports whether a plain scalar can end just before b.
func plainEnds(b []byte) bool {
	if len(b) == 0 || breakLen(b, false) > 0 {
		return true
	}
	switch b[0] {
	case ' ', '\t', ',', ']', '}':
		return true
	}
	return false
}
