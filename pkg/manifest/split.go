package manifest

import "bytes"

// chunk is a run of a stream that holds one document: it starts at a "---"
// line, or at the start of the stream.
type chunk struct {
	data []byte
	// offset is where data starts in the stream; line is its first line
	// there, counting from 1.
	offset, line int
}

// splitDocuments cuts a stream at its document start markers, without
// parsing it, so that each document can be decoded on its own. A marker is
// "---" at the start of a line, followed by the end of the line or by
// white space; inside a document such a line could only belong to a
// top-level block scalar, which Kubernetes objects never are. Markers and
// comments with no document between them join the next document, and so do
// directives, so that "%YAML 1.1" reaches the parser with its document.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	content := false
	// cut and cutLine mark where the next chunk would begin: the current
	// line, or the first of the directives just before it.
	cut, cutLine := -1, 0
	for pos := 0; pos < len(data); line++ {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data) - pos
		}
		text := data[pos : pos+end]
		switch {
		case isMarker(text):
			if cut < 0 {
				cut, cutLine = pos, line
			}
			if content {
				chunks = append(chunks, chunk{data[start:cut], start, startLine})
				start, startLine = cut, cutLine
			}
			content, cut = isContent(text[3:]), -1
		case len(text) > 0 && text[0] == '%':
			if cut < 0 {
				cut, cutLine = pos, line
			}
		case isContent(text):
			content, cut = true, -1
		}
		pos += end + 1
	}
	return append(chunks, chunk{data[start:], start, startLine})
}

// isContent reports whether a line holds more than white space or a
// comment.
func isContent(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r':
		case '#':
			return false
		default:
			return true
		}
	}
	return false
}

func isMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
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
