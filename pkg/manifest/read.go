package manifest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// kubectl reads YAML as k8s.io/apimachinery's YAMLOrJSONDecoder does:
// sigs.k8s.io/yaml decodes each document with go-yaml v2, by the YAML 1.1
// rules, into Go values, and encodes them as JSON for the API server. The
// parser here is yaml.v3, whose node tree has the lines and columns that
// edits need, but whose tags follow YAML 1.2. So every key and every
// scalar that decides an image is read again here, as go-yaml v2 reads it
// (its resolve and its decoder's scalar) and as sigs.k8s.io/yaml turns it
// into JSON:
//
//   - yes, no, on, off, y, n (in any of their cases) are booleans;
//   - a plain date or time (2001-12-14) is the string as written, though
//     YAML 1.2 reads a timestamp;
//   - !!binary is the string its base64 decodes to, !!str and tags of
//     one's own ("!foo") a string;
//   - a key is the string of what it reads as: 1.0 is "1", yes is "true",
//     and an alias of an anchored key is that key; a null key, a key too
//     large for an int64 and a mapping as a key fail.
//
// A scalar that go-yaml v2 refuses (!!int abc) fails kubectl's decoding of
// the whole object.
//
// yaml.v3 forgets one thing that v2 reads: the non-specific tag "!", which
// makes any scalar a string ("! 123"), as tags of one's own do. In a
// stream, markNonSpecific finds such scalars in the text and tags them
// "!" for read.

// valueKind is the JSON type of a value as kubectl reads it.
type valueKind uint8

const (
	stringValue valueKind = iota
	nullValue
	boolValue
	numberValue
	collectionValue
)

// reading is a scalar as kubectl reads it: its type, and the string for a
// string, or the text of the value as a key.
type reading struct {
	kind valueKind
	text string
	// number is the value of a number, for keys.
	number any
}

// errUnreadable is wrapped by the error of a value that kubectl's decoder
// refuses.
var errUnreadable = errors.New("kubectl's decoder cannot read it")

// unreadableError is a node that kubectl's decoder refuses; the object is
// refused, at the line of the node.
type unreadableError struct {
	line int
	msg  string
}

func (e *unreadableError) Error() string { return e.msg + ": " + errUnreadable.Error() }

func (e *unreadableError) Unwrap() error { return errUnreadable }

func unreadable(n *yaml.Node, format string, args ...any) error {
	return &unreadableError{line: n.Line, msg: fmt.Sprintf("column %d: ", n.Column) + fmt.Sprintf(format, args...)}
}

// read returns the value n, an alias resolved, as kubectl reads it.
func read(n *yaml.Node) (reading, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return reading{kind: collectionValue}, nil
	}
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = n.Tag
	}
	if tag == "" && n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return reading{kind: stringValue, text: n.Value}, nil
	}
	if tag == "!!binary" {
		b, err := base64.StdEncoding.DecodeString(n.Value)
		if err != nil {
			return reading{}, unreadable(n, "!!binary value contains invalid base64 data")
		}
		return reading{kind: stringValue, text: jsonString(string(b))}, nil
	}
	r, ok := resolve(tag, n.Value)
	if !ok {
		return reading{}, unreadable(n, "cannot read %s as %s", clip(n.Value), tag)
	}
	return r, nil
}

// readText returns the string that n reads as, or "" when it is not one.
func readText(n *yaml.Node) string {
	if r, err := read(n); err == nil && r.kind == stringValue {
		return r.text
	}
	return ""
}

// jsonString returns s as encoding/json writes it: each byte that is not
// UTF-8 becomes U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// resolve is go-yaml v2's resolve for a scalar that is plain, or tagged
// tag: the type and value it reads as. A timestamp reads as its text, as
// v2 gives it to an interface. ok is false where v2 fails.
func resolve(tag, in string) (reading, bool) {
	switch tag {
	case "", "!!str", "!!bool", "!!int", "!!float", "!!null", "!!timestamp":
	default:
		return reading{kind: stringValue, text: in}, true // not resolvable: a string
	}
	r, rtag := resolved(tag, in)
	switch {
	case tag == "" || tag == rtag || tag == "!!str":
		return r, true
	case tag == "!!float" && rtag == "!!int":
		return r, true
	}
	return reading{}, false
}

// resolveHint is v2's table of first characters: what a scalar that
// starts with each may be.
func resolveHint(in string) byte {
	if in == "" {
		return 'N'
	}
	switch c := in[0]; {
	case c == '+' || c == '-':
		return 'S'
	case c >= '0' && c <= '9':
		return 'D'
	case strings.IndexByte("yYnNtTfFoO~", c) >= 0:
		return 'M'
	case c == '.':
		return '.'
	}
	return 0
}

// resolveMap holds the values v2 finds by their whole text, with their
// tags.
var resolveMap = func() map[string]tagged {
	m := map[string]tagged{}
	for _, item := range []struct {
		tagged
		texts []string
	}{
		{tagged{reading{kind: boolValue, text: "true"}, "!!bool"}, []string{"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}},
		{tagged{reading{kind: boolValue, text: "false"}, "!!bool"}, []string{"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}},
		{tagged{reading{kind: nullValue}, "!!null"}, []string{"", "~", "null", "Null", "NULL"}},
		{tagged{number(math.NaN()), "!!float"}, []string{".nan", ".NaN", ".NAN"}},
		{tagged{number(math.Inf(1)), "!!float"}, []string{".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}},
		{tagged{number(math.Inf(-1)), "!!float"}, []string{"-.inf", "-.Inf", "-.INF"}},
	} {
		for _, t := range item.texts {
			m[t] = item.tagged
		}
	}
	return m
}()

// tagged is a reading with the tag v2 resolves it to.
type tagged struct {
	reading
	tag string
}

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolved is the body of v2's resolve: the reading of in and its tag.
func resolved(tag, in string) (reading, string) {
	str := reading{kind: stringValue, text: in}
	hint := resolveHint(in)
	if hint == 0 || tag == "!!str" {
		return str, "!!str"
	}
	if t, ok := resolveMap[in]; ok {
		return t.reading, t.tag
	}
	switch hint {
	case '.':
		if f, err := strconv.ParseFloat(in, 64); err == nil {
			return number(f), "!!float"
		}
	case 'D', 'S':
		if (tag == "" || tag == "!!timestamp") && isTimestamp(in) {
			return str, "!!timestamp"
		}
		plain := strings.ReplaceAll(in, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return number(int(i)), "!!int"
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return number(u), "!!int"
		}
		if yamlStyleFloat.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return number(f), "!!float"
			}
		}
		if bits, ok := strings.CutPrefix(plain, "0b"); ok {
			if i, err := strconv.ParseInt(bits, 2, 64); err == nil {
				return number(int(i)), "!!int"
			}
			if u, err := strconv.ParseUint(bits, 2, 64); err == nil {
				return number(u), "!!int"
			}
		} else if bits, ok := strings.CutPrefix(plain, "-0b"); ok {
			if i, err := strconv.ParseInt("-"+bits, 2, 64); err == nil {
				return number(int(i)), "!!int"
			}
		}
	}
	return str, "!!str"
}

func number(v any) reading { return reading{kind: numberValue, number: v} }

// timestampFormats are the formats v2 tries for a timestamp.
var timestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// isTimestamp reports whether v2 reads s as a timestamp.
func isTimestamp(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, format := range timestampFormats {
		if _, err := time.Parse(format, s); err == nil {
			return true
		}
	}
	return false
}

// keyText returns the key n as sigs.k8s.io/yaml turns it into a JSON
// object's key.
func keyText(n *yaml.Node) (string, error) {
	k := deref(n)
	if k.Kind != yaml.ScalarNode {
		return "", unreadable(n, "a key that is a mapping or a list")
	}
	r, err := read(k)
	if err != nil {
		return "", err
	}
	switch r.kind {
	case stringValue:
		return r.text, nil
	case boolValue:
		return r.text, nil
	case numberValue:
		switch v := r.number.(type) {
		case int:
			return strconv.Itoa(v), nil
		case float64:
			s := strconv.FormatFloat(v, 'g', -1, 32)
			switch s {
			case "+Inf":
				s = ".inf"
			case "-Inf":
				s = "-.inf"
			case "NaN":
				s = ".nan"
			}
			return s, nil
		}
		return "", unreadable(n, "key %s is too large for an int64", clip(k.Value))
	}
	return "", unreadable(n, "a null key")
}

// markNonSpecific tags "!" the scalars of the document root that are
// written with the non-specific tag "!", which yaml.v3 drops, so that read
// takes them for strings as go-yaml v2 does. loc locates them in the text
// root was parsed from; it is only done where the text holds a "!" that
// could be such a tag.
func markNonSpecific(root *yaml.Node, loc *locator) {
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		switch {
		case n.Kind == yaml.ScalarNode && n.Style&yaml.TaggedStyle == 0 && n.Tag != "!!merge":
			if at, ok := loc.offset(n.Line, n.Column); ok && isNonSpecific(loc.data, at) {
				n.Tag, n.Style = "!", n.Style|yaml.TaggedStyle
			}
		case n.Kind != yaml.AliasNode:
			for _, c := range n.Content {
				visit(c)
			}
		}
	}
	visit(root)
}

// isNonSpecific reports whether the node at offset at of data, past its
// anchor, has the tag "!".
func isNonSpecific(data []byte, at int) bool {
	if at < len(data) && data[at] == '&' {
		at += propertyLen(data[at:])
		for at < len(data) && (data[at] == ' ' || data[at] == '\t') {
			at++
		}
	}
	if at >= len(data) || data[at] != '!' {
		return false
	}
	return at+1 == len(data) || propertyLen(data[at:]) == 1
}

// mayHaveNonSpecific reports whether data may hold the tag "!": a "!"
// followed by white space, a line break, a flow indicator or the end.
func mayHaveNonSpecific(data []byte) bool {
	for i := bytes.IndexByte(data, '!'); i >= 0; {
		if i+1 == len(data) || propertyLen(data[i:]) == 1 {
			return true
		}
		j := bytes.IndexByte(data[i+1:], '!')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
