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
// top-level block scalar, which Kubernetes objects never are.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	for pos := 0; pos < len(data); line++ {
		if pos > start && isMarker(data[pos:]) {
			chunks = append(chunks, chunk{data[start:pos], start, startLine})
			start, startLine = pos, line
		}
		next := bytes.IndexByte(data[pos:], '\n')
		if next < 0 {
			break
		}
		pos += next + 1
	}
	return append(chunks, chunk{data[start:], start, startLine})
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
