package krm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"kmirror.dev/kmirror/pkg/manifest"
)

// A ResourceList as kustomize and kpt write it is a block mapping at the
// left margin whose "items" is a block sequence, one entry after another:
//
//	apiVersion: config.kubernetes.io/v1
//	kind: ResourceList
//	items:
//	- apiVersion: v1          # an entry starts with "-" at the sequence's indent
//	  kind: Pod
//	  ...
//	functionConfig:
//	  ...
//
// Read line by line, that layout tells where each entry starts without
// parsing the whole list, so the items can be decided one at a time, in
// memory that does not grow with the list. Anything else (flow style,
// JSON, tabs, quoted keys, a second document, line breaks other than LF
// and CRLF) is not this layout, and the function parses the whole list.

// errNotLayout says that a ResourceList is not in the layout streamed.
var errNotLayout = errors.New("not in the streamed layout")

// span is a run of the input: offsets, and the line it starts on.
type span struct {
	start, end int64
	line       int
}

// layout is where the parts of a ResourceList are.
type layout struct {
	// items is the run of lines that holds the entries of items; the
	// skeleton is the input without it. first is where its first entry
	// starts (after comments), or items.end when it has none; the entries
	// start with "-" at indent.
	items         span
	first, indent int64
	// noFinalNewline says that the document ends without a final newline.
	noFinalNewline bool
}

// scanLayout reads r, a ResourceList, and returns its layout, or
// errNotLayout.
func scanLayout(r io.Reader) (*layout, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	l := &layout{items: span{start: -1}, first: -1}
	var off int64
	line := 0
	inItems, started, ended := false, false, false
	indent := -1
	finalNewline := true
	for {
		text, err := readLine(br)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(text) == 0 {
			break
		}
		line++
		start := off
		off += int64(len(text))
		finalNewline = text[len(text)-1] == '\n'
		if hasOddBreak(text) {
			return nil, errNotLayout
		}
		body := bytes.TrimRight(text, "\r\n")
		trimmed := bytes.TrimLeft(body, " ")
		switch {
		case len(trimmed) == 0 || trimmed[0] == '#':
			continue // blank lines and comments go with what is around them
		case bytes.ContainsRune(body[:len(body)-len(trimmed)], '\t') || bytes.HasPrefix(trimmed, []byte("\t")):
			return nil, errNotLayout
		case ended:
			return nil, errNotLayout // a second document: the parser says so
		case isMarkerLine(body):
			if started {
				ended = true
			} else if len(bytes.TrimSpace(body[3:])) > 0 {
				return nil, errNotLayout
			}
			continue
		}
		started = true
		margin := len(body) - len(trimmed)
		if inItems {
			if indent < 0 {
				if !isEntry(trimmed) {
					return nil, errNotLayout
				}
				indent = margin
			}
			switch {
			case margin == indent && isEntry(trimmed):
				if l.first < 0 {
					l.first, l.indent = start, int64(indent)
				}
				continue
			case margin > indent:
				continue
			case margin > 0:
				return nil, errNotLayout
			}
			// Back at the margin: the next key of the ResourceList.
			inItems = false
			l.items.end = start
		}
		if margin > 0 || isEntry(trimmed) {
			continue // the value of a key of the ResourceList
		}
		key, rest, ok := topKey(trimmed)
		if !ok {
			return nil, errNotLayout
		}
		if key == "items" {
			if l.items.start >= 0 || len(bytes.TrimSpace(rest)) > 0 && rest[bytes.IndexFunc(rest, notSpace)] != '#' {
				return nil, errNotLayout
			}
			inItems, l.items = true, span{start: off, line: line + 1}
		}
	}
	if l.items.start < 0 {
		return nil, errNotLayout
	}
	if inItems {
		l.items.end = off
	}
	if l.first < 0 {
		l.first = l.items.end
	}
	if ended {
		return nil, errNotLayout
	}
	l.noFinalNewline = !finalNewline
	return l, nil
}

// entries yields the entries of the items of src, one chunk each, reading
// them again line by line: memory holds one entry, whatever the length of
// the list.
func (l *layout) entries(src io.ReaderAt, yield func(manifest.Chunk) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(src, l.first, l.items.end-l.first), 64<<10)
	var buf []byte
	start, off := l.first, l.first
	line, startLine := l.items.line-1, 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := yield(manifest.Chunk{Data: buf, Offset: start, Line: startLine})
		buf = buf[:0]
		return err
	}
	for {
		text, err := readLine(br)
		if err != nil && err != io.EOF {
			return err
		}
		if len(text) == 0 {
			return flush()
		}
		line++
		body := bytes.TrimRight(text, "\r\n")
		if trimmed := bytes.TrimLeft(body, " "); len(trimmed) > 0 && int64(len(body)-len(trimmed)) == l.indent && isEntry(trimmed) {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			start, startLine = off, line
		}
		buf = append(buf, text...)
		off += int64(len(text))
	}
}

// readLine returns the next line of br, newline included, however long.
// The line is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	text, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return text, err
	}
	line := append([]byte(nil), text...)
	for err == bufio.ErrBufferFull {
		text, err = br.ReadSlice('\n')
		line = append(line, text...)
	}
	return line, err
}

// hasOddBreak reports a line break that YAML counts and a line reader does
// not: a lone CR, U+0085, U+2028 or U+2029.
func hasOddBreak(text []byte) bool {
	body := bytes.TrimSuffix(bytes.TrimSuffix(text, []byte("\n")), []byte("\r"))
	return bytes.ContainsRune(body, '\r') || bytes.ContainsAny(body, "\u0085\u2028\u2029")
}

func isMarkerLine(body []byte) bool {
	return (bytes.HasPrefix(body, []byte("---")) || bytes.HasPrefix(body, []byte("..."))) &&
		(len(body) == 3 || body[3] == ' ' || body[3] == '\t')
}

// isEntry reports whether a line, past its indent, starts an entry of a
// block sequence.
func isEntry(trimmed []byte) bool {
	return trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
}

// topKey reads "key:" at the start of a line of the ResourceList's own
// mapping, for a plain key.
func topKey(line []byte) (key string, rest []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i+1 < len(line) && line[i+1] != ' ' {
		return "", nil, false
	}
	k := string(line[:i])
	if strings.ContainsAny(k, "\"'{}[],&*!|>%@`#") {
		return "", nil, false
	}
	return k, line[i+1:], true
}

func notSpace(r rune) bool { return r != ' ' && r != '\t' }
