package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fileset"
)

// A List as "kubectl get -o yaml" writes it is one document, as long as
// the objects it holds, with its kind after its items:
//
//	apiVersion: v1
//	items:
//	- apiVersion: v1       # an item starts with "-" at the items' indent
//	  kind: Pod
//	  ...
//	kind: List
//	metadata: {}
//
// Parsed whole, it would take some forty times its size. So once a
// document passes listStreamBytes with its items in this layout, the
// splitter keeps the items in a spool rather than in memory, and at the
// end of the document, if it is a List, hands it over in parts: its head,
// runs of whole items, each decided as the walk of the List decides its
// items, and its tail. The walk of a List reads nothing but its items, so
// the head and tail, parsed together to check the document, hold no image.
// Anything else (flow style, tabs, quoted top-level keys, line breaks
// other than LF, CRLF and CR, items that may hold anchors or aliases,
// which would reach from one item into another) is not this layout, and
// the document is parsed whole.

// listStreamBytes is the size past which a List is handed over in parts.
var listStreamBytes = 1 << 20

// The parts of a List handed over in parts, in Chunk.list.
const (
	listHead = iota + 1
	listItems
	listTail
)

// listSplit follows the layout of a document, line by line.
type listSplit struct {
	state listState
	// indent is the indent of the items' entries, once one is seen.
	indent int
	// itemsAt is where the lines of the items start in the splitter's
	// buffer, and itemsLine their first line.
	itemsAt, itemsLine int
	// items holds the lines of the items once they are spooled, written
	// through w.
	items *fileset.Spool
	w     *bufio.Writer
	// block is the indent of the line that starts a block scalar, whose
	// lines below it are text, or -1.
	block int
}

type listState int

const (
	beforeItems listState = iota
	inItems
	afterItems
	notList
)

// add reads a line of the document, text at offset at of the splitter's
// buffer, and spools it when it belongs to the items of a long List.
func (l *listSplit) add(s *splitter, at int, text []byte) error {
	if l.state == notList {
		return nil
	}
	l.state = l.next(text)
	switch {
	case l.state == inItems && l.itemsAt == 0:
		l.itemsAt, l.itemsLine = len(s.buf), s.line+countBreaks(text)
	case l.state == inItems && l.items == nil && len(s.buf) > listStreamBytes:
		l.items = fileset.NewSpool(0)
		l.w = bufio.NewWriterSize(l.items, 64<<10)
		if _, err := l.w.Write(s.buf[l.itemsAt:]); err != nil {
			return err
		}
		s.buf = s.buf[:l.itemsAt]
	case l.state == inItems && l.items != nil:
		if _, err := l.w.Write(text); err != nil {
			return err
		}
		s.buf = s.buf[:at]
	}
	return nil
}

// next returns the state after the line text.
func (l *listSplit) next(text []byte) listState {
	body := bytes.TrimRight(text, "\r\n")
	trimmed := bytes.TrimLeft(body, " ")
	margin := len(body) - len(trimmed)
	switch {
	case len(trimmed) == 0 || trimmed[0] == '#':
		return l.state
	case bytes.IndexByte(body[:margin], '\t') >= 0 || trimmed[0] == '\t':
		return notList
	case bytes.ContainsAny(body, "\u0085\u2028\u2029"):
		return notList // a line break to YAML, not to the splitter
	case l.block >= 0 && margin > l.block:
		return l.state // the text of a block scalar
	}
	l.block = -1
	if startsBlock(trimmed) {
		l.block = margin
	}
	if l.state == inItems {
		switch {
		case l.indent < 0 && !isEntry(trimmed), mayAlias(trimmed):
			return notList
		case l.indent < 0:
			l.indent = margin
			return inItems
		case margin > l.indent, margin == l.indent && isEntry(trimmed):
			return inItems
		case margin > 0, isEntry(trimmed):
			return notList
		}
	}
	if margin > 0 || isEntry(trimmed) && l.state != beforeItems {
		return l.state // the value of a key of the List
	}
	key, rest, ok := topKey(trimmed)
	switch {
	case !ok:
		return notList
	case key != "items":
		if l.state == inItems {
			return afterItems
		}
		return l.state
	case l.state != beforeItems || len(bytes.TrimSpace(rest)) > 0 && bytes.TrimSpace(rest)[0] != '#':
		return notList
	}
	l.indent = -1
	return inItems
}

// newListSplit returns the state of a document's first line.
func newListSplit() listSplit { return listSplit{block: -1} }

// spooled reports whether the items are in the spool.
func (l *listSplit) spooled() bool { return l.items != nil }

// finish hands over the document that ends at end of the splitter's
// buffer: in parts when it is a List, else whole.
func (l *listSplit) finish(s *splitter, end, next int) error {
	defer l.items.Close()
	if err := l.w.Flush(); err != nil {
		return err
	}
	head, tail := s.buf[:l.itemsAt], s.buf[l.itemsAt:end]
	itemsLen := l.items.Len()
	var err error
	if isList(head, tail) && l.state != notList {
		err = l.parts(s, head, tail)
	} else {
		err = l.whole(s, head, tail)
	}
	if err != nil {
		return err
	}
	s.start += itemsLen
	s.list = newListSplit()
	s.drop(end, next)
	return nil
}

// isList reports whether the document whose items are cut out is a List,
// with nothing else to walk: a mapping whose kind ends in "List", with no
// key twice, and with items and nothing else that the walk would read.
func isList(head, tail []byte) bool {
	var doc yaml.Node
	dec := yaml.NewDecoder(io.MultiReader(bytes.NewReader(head), bytes.NewReader(tail)))
	if dec.Decode(&doc) != nil || len(doc.Content) == 0 {
		return false
	}
	var extra yaml.Node
	if !errors.Is(dec.Decode(&extra), io.EOF) {
		return false
	}
	root := doc.Content[0]
	ps, err := pairs(root)
	return err == nil && root.Kind == yaml.MappingNode && strings.HasSuffix(scalar(value(ps, "kind")), "List") && isNull(value(ps, "items"))
}

// parts hands over the List in parts: head, runs of whole items of about
// partBytes, tail.
func (l *listSplit) parts(s *splitter, head, tail []byte) error {
	if err := s.fn(Chunk{Data: head, Offset: s.start, Line: s.startLine, list: listHead}); err != nil {
		return err
	}
	br := bufio.NewReaderSize(l.items.Reader(), 64<<10)
	// offset and line are where the next line read starts; the run
	// starts at runOffset, on runLine, with item first.
	offset, line := s.start+int64(l.itemsAt), l.itemsLine
	runOffset, runLine, first, item := offset, line, 0, -1
	var run []byte
	for {
		at := len(run)
		var err error
		run, err = readLine(br, run)
		if err != nil && err != io.EOF {
			return err
		}
		if text := run[at:]; len(text) > 0 {
			body := bytes.TrimRight(text, "\r\n")
			if trimmed := bytes.TrimLeft(body, " "); len(trimmed) > 0 && len(body)-len(trimmed) == l.indent && isEntry(trimmed) {
				item++
				if at >= partBytes {
					if ferr := s.fn(Chunk{Data: run[:at], Offset: runOffset, Line: runLine, list: listItems, item: first}); ferr != nil {
						return ferr
					}
					run = run[:copy(run, text)]
					runOffset, runLine, first = offset, line, item
				}
			}
			offset += int64(len(text))
			line += countBreaks(text)
		}
		if err == io.EOF {
			break
		}
	}
	if len(run) > 0 {
		if err := s.fn(Chunk{Data: run, Offset: runOffset, Line: runLine, list: listItems, item: first}); err != nil {
			return err
		}
	}
	return s.fn(Chunk{Data: tail, Offset: offset, Line: line, list: listTail})
}

// whole hands over the document whole, its items read back from the spool.
func (l *listSplit) whole(s *splitter, head, tail []byte) error {
	data := make([]byte, 0, len(head)+int(l.items.Len())+len(tail))
	data = append(data, head...)
	items, err := io.ReadAll(l.items.Reader())
	if err != nil {
		return err
	}
	data = append(append(data, items...), tail...)
	return s.fn(Chunk{Data: data, Offset: s.start, Line: s.startLine})
}

// isEntry reports whether a line, past its indent, starts an entry of a
// block sequence.
func isEntry(trimmed []byte) bool {
	return trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ')
}

// topKey reads "key:" at the start of a line of a mapping at the margin,
// for a plain key.
func topKey(line []byte) (key string, rest []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i+1 < len(line) && line[i+1] != ' ' {
		return "", nil, false
	}
	k := string(line[:i])
	if strings.ContainsAny(k, "\"'{}[],&*!|>%@`#?- \t") {
		return "", nil, false
	}
	return k, line[i+1:], true
}

// mayAlias reports whether a line may hold an anchor or an alias: "&" or
// "*" where a token starts, outside a quoted string that starts on the
// line, before a comment. It may take a character of a string for one,
// which only costs the streaming.
func mayAlias(trimmed []byte) bool {
	var quote byte
	for i := 0; i < len(trimmed); i++ {
		c := trimmed[i]
		start := i == 0 || bytes.IndexByte([]byte(" \t[{,"), trimmed[i-1]) >= 0
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote && quote == '\'' && i+1 < len(trimmed) && trimmed[i+1] == '\'':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case start && (c == '"' || c == '\''):
			quote = c
		case start && c == '#':
			return false
		case start && (c == '&' || c == '*'):
			return true
		}
	}
	return false
}

// startsBlock reports whether a line ends with the indicator of a block
// scalar ("|", ">-", "|2"), before a comment.
func startsBlock(trimmed []byte) bool {
	if i := bytes.Index(trimmed, []byte(" #")); i >= 0 {
		trimmed = trimmed[:i]
	}
	trimmed = bytes.TrimRight(trimmed, " ")
	end := len(trimmed)
	for end > 0 && bytes.IndexByte([]byte("+-0123456789"), trimmed[end-1]) >= 0 {
		end--
	}
	return end > 0 && (trimmed[end-1] == '|' || trimmed[end-1] == '>') && (end == 1 || trimmed[end-2] == ' ')
}
