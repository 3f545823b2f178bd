package manifest

import (
	"bufio"
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
func splitDocuments(r io.Reader, fn func(Chunk) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte // the current chunk
	var start int64
	startLine, line := 1, 1
	content := false
	// cut and cutLine mark where the next chunk begins, in buf: at the
	// marker, or at the first of the directives just before it.
	cut, cutLine := -1, 0
	for {
		at := len(buf)
		text, err := br.ReadSlice('\n')
		buf = append(buf, text...)
		// A line longer than the reader's buffer comes in pieces; only its
		// start matters below.
		for err == bufio.ErrBufferFull {
			text, err = br.ReadSlice('\n')
			buf = append(buf, text...)
		}
		if err != nil && err != io.EOF {
			return err
		}
		if text := buf[at:]; len(text) > 0 {
			breaks := countBreaks(text)
			switch {
			case isMarker(text):
				if cut < 0 {
					cut, cutLine = at, line
				}
				// Read before the copy below moves text's bytes.
				rest := isContent(text[3:])
				if content {
					if ferr := fn(Chunk{buf[:cut], start, startLine}); ferr != nil {
						return ferr
					}
					buf = buf[:copy(buf, buf[cut:])]
					start, startLine = start+int64(cut), cutLine
				}
				content, cut = rest, -1
			case text[0] == '%':
				if cut < 0 {
					cut, cutLine = at, line
				}
			case isContent(text):
				content, cut = true, -1
			}
			line += breaks
		}
		if err == io.EOF {
			break
		}
	}
	if len(buf) == 0 {
		return nil
	}
	return fn(Chunk{buf, start, startLine})
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
