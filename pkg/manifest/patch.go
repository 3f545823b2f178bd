package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// edit replaces data[start:end] of a stream with text.
type edit struct {
	start, end int
	text       string
}

// lineIndex finds where each line of a chunk starts, once, when the first
// edit of the chunk needs it.
type lineIndex struct {
	data   []byte
	starts []int
}

func (li *lineIndex) offset(line, column int) (int, bool) {
	if li.starts == nil {
		li.starts = []int{0}
		for i, b := range li.data {
			if b == '\n' {
				li.starts = append(li.starts, i+1)
			}
		}
	}
	if line < 1 || line > len(li.starts) {
		return 0, false
	}
	// yaml.v3 counts columns in characters, not bytes.
	pos := li.starts[line-1]
	for c := 1; c < column && pos < len(li.data); c++ {
		_, size := utf8.DecodeRune(li.data[pos:])
		pos += size
	}
	return pos, true
}

var errCannotEdit = errors.New("cannot edit this image in place")

// locate returns the edit that sets scalar n, found in li, to value, in the
// quoting style n was written in.
func (li *lineIndex) locate(n *yaml.Node, value string) (edit, error) {
	pos, ok := li.offset(n.Line, n.Column)
	if !ok {
		return edit{}, errCannotEdit
	}
	data := li.data
	// A node's position may be that of its anchor or tag.
	for pos < len(data) && (data[pos] == '&' || data[pos] == '!') {
		for pos < len(data) && data[pos] != ' ' && data[pos] != '\t' {
			pos++
		}
		for pos < len(data) && (data[pos] == ' ' || data[pos] == '\t') {
			pos++
		}
	}
	rest := data[pos:]
	switch n.Style &^ yaml.TaggedStyle {
	case yaml.DoubleQuotedStyle:
		end := quotedEnd(rest, '"')
		if end < 0 {
			return edit{}, errCannotEdit
		}
		return edit{pos, pos + end, strconv.Quote(value)}, nil
	case yaml.SingleQuotedStyle:
		end := quotedEnd(rest, '\'')
		if end < 0 {
			return edit{}, errCannotEdit
		}
		return edit{pos, pos + end, "'" + value + "'"}, nil
	case 0:
		if !bytes.HasPrefix(rest, []byte(n.Value)) || !plainEnds(rest[len(n.Value):]) {
			return edit{}, fmt.Errorf("%w: a plain scalar over several lines", errCannotEdit)
		}
		text := value
		if yaml.IsValueNonString(value) {
			text = strconv.Quote(value)
		}
		return edit{pos, pos + len(n.Value), text}, nil
	}
	// Block scalars are left alone before they get here (see decideObject).
	return edit{}, fmt.Errorf("%w: scalar style %d", errCannotEdit, n.Style)
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
	if len(b) == 0 {
		return true
	}
	switch b[0] {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return false
}
