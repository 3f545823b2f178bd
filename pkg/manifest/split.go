package manifest

import (
	"bufio"
	"bytes"
	"io"
)

// splitDocuments reads a stream and calls fn with each of its documents,
// cut at the document start markers without parsing, so that each can be
// decoded on its own and memory holds one document at a time. A chunk's data
// is valid only during the call.
//
// A marker is "---" at the start of a line, followed by the end of the line
// or by white space; inside a document such a line could only belong to a
// top-level block scalar, which Kubernetes objects never are. Markers and
// comments with no document between them join the next document, and so do
// directives, so that "%YAML 1.1" reaches the parser with its document.
//
// A line ends at LF, CRLF or a lone CR, as YAML ends one, so that a stream
// of old Mac line ends is cut too. Two more cuts keep memory flat where a
// stream has no markers, or one huge document:
//
//   - JSON values one after the other, as kubectl reads them, are cut
//     after each line that closes a value;
//   - a List over listStreamBytes whose items are a block sequence, as
//     "kubectl get -o yaml" writes it, is cut into its head, runs of whole
//     items and its tail (see listsplit.go).
func splitDocuments(r io.Reader, fn func(Chunk) error) error {
	s := &splitter{br: bufio.NewReaderSize(r, 64<<10), fn: fn, line: 1, startLine: 1, cut: -1, list: newListSplit()}
	return s.run()
}

// splitter is the state of splitDocuments.
type splitter struct {
	br *bufio.Reader
	fn func(Chunk) error
	// buf is the current chunk, which starts at offset start of the stream,
	// on line startLine; line is the line of the next line read.
	buf             []byte
	start           int64
	startLine, line int
	// content: the chunk holds more than markers, comments and white space.
	content bool
	// cut and cutLine mark where the next chunk begins, in buf: at the
	// marker, or at the first of the directives just before it.
	cut, cutLine int
	// json follows the JSON values of a chunk that starts with one.
	json jsonDepth
	// list follows the layout of a document that may be a List.
	list listSplit
}

func (s *splitter) run() error {
	for {
		at := len(s.buf)
		var err error
		s.buf, err = readLine(s.br, s.buf)
		if err != nil && err != io.EOF {
			return err
		}
		if text := s.buf[at:]; len(text) > 0 {
			if ferr := s.add(at, text); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			break
		}
	}
	return s.flush(len(s.buf), s.line)
}

// add reads the line text, which starts at offset at of buf.
func (s *splitter) add(at int, text []byte) error {
	breaks := countBreaks(text)
	defer func() { s.line += breaks }()
	switch {
	case isMarker(text):
		if s.cut < 0 {
			s.cut, s.cutLine = at, s.line
		}
		// Read before flush moves text's bytes.
		rest := isContent(text[3:])
		if s.content {
			if err := s.flush(s.cut, s.cutLine); err != nil {
				return err
			}
		}
		s.content, s.cut = rest, -1
		return nil
	case text[0] == '%':
		if s.cut < 0 {
			s.cut, s.cutLine = at, s.line
		}
		return nil
	case isContent(text):
		if !s.content {
			s.json.begin(s.buf[at:])
		}
		s.content, s.cut = true, -1
	}
	if s.json.on {
		if s.json.scan(text) {
			// A value ends with this line: the next starts a chunk.
			return s.flush(len(s.buf), s.line+breaks)
		}
		return nil
	}
	return s.list.add(s, at, text)
}

// flush hands buf[:end] over as a chunk, unless it is empty, and keeps the
// rest, which starts on line next, as the start of the next chunk.
func (s *splitter) flush(end, next int) error {
	if s.list.spooled() {
		return s.list.finish(s, end, next)
	}
	if end > 0 {
		if err := s.fn(Chunk{Data: s.buf[:end], Offset: s.start, Line: s.startLine}); err != nil {
			return err
		}
	}
	s.drop(end, next)
	return nil
}

// drop removes buf[:end], handed over, and starts the next chunk at what
// is left, on line next, with no content yet.
func (s *splitter) drop(end, next int) {
	s.buf = s.buf[:copy(s.buf, s.buf[end:])]
	s.start, s.startLine = s.start+int64(end), next
	s.content, s.json, s.list = false, jsonDepth{}, newListSplit()
}

// readLine appends the next line of br to buf, its line break included: LF,
// CRLF, or a lone CR. At the end of the stream it returns io.EOF, with the
// last line when it has no line break.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		if _, err := br.Peek(1); err != nil {
			return buf, err
		}
		data, _ := br.Peek(br.Buffered())
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			buf = append(buf, data...)
			br.Discard(len(data))
			continue
		}
		buf = append(buf, data[:i+1]...)
		br.Discard(i + 1)
		if data[i] == '\r' {
			if next, err := br.Peek(1); err == nil && next[0] == '\n' {
				buf = append(buf, '\n')
				br.Discard(1)
			}
		}
		return buf, nil
	}
}

// jsonDepth follows the nesting of the JSON values of a chunk line by
// line, to tell where one ends. JSON strings hold no line breaks, so a
// line never ends inside one in valid JSON.
type jsonDepth struct {
	// on: the chunk starts with { or [.
	on    bool
	depth int
}

// begin starts following the chunk whose first content starts text, past a
// byte order mark and white space.
func (j *jsonDepth) begin(text []byte) {
	t := bytes.TrimLeft(bytes.TrimPrefix(text, bom), " \t")
	*j = jsonDepth{on: len(t) > 0 && (t[0] == '{' || t[0] == '[')}
}

// scan reads a line and reports whether a value ends with it.
func (j *jsonDepth) scan(line []byte) bool {
	opened, inString, escaped := false, false, false
	for _, c := range line {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			j.depth++
			opened = true
		case c == '}' || c == ']':
			j.depth--
		}
	}
	return j.depth == 0 && (opened || bytes.ContainsAny(line, "}]")) && !inString
}

func isMarker(line []byte) bool {
	if len(line) < 3 || string(line[:3]) != "---" {
		return false
	}
	if len(line) == 3 {
		return true
	}
	switch line[3] {
	case ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// isContent reports whether a line holds more than white space or a
// comment.
func isContent(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r', '\n':
		case '#':
			return false
		default:
			return true
		}
	}
	return false
}
