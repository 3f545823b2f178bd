package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Baseline reads the stream r document by document, decodes each document
// on its own with kyaml (yaml.Parse) and encodes it back to w (String),
// rewriting nothing. It is the least a kyaml-based tool does with a stream,
// and what kmirror's speed is measured against. It returns the number of
// documents decoded; empty documents, or documents holding only comments,
// are skipped.
//
// Each document gets its own decoder on purpose: kio.ByteReader decodes a
// whole stream with one yaml.v3 decoder, which is many times slower and
// keeps the whole stream's nodes in memory.
func Baseline(r io.Reader, w io.Writer) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	bw := bufio.NewWriterSize(w, 64<<10)
	var doc bytes.Buffer
	n, line, start := 0, 0, 1
	flush := func() error {
		ok, err := encodeDocument(bw, doc.Bytes())
		if err != nil {
			return fmt.Errorf("decoding the document at line %d: %w", start, err)
		}
		if ok {
			n++
		}
		doc.Reset()
		start = line
		return nil
	}
	for sc.Scan() {
		line++
		if isMarker(sc.Bytes()) && doc.Len() > 0 {
			if err := flush(); err != nil {
				return n, err
			}
		}
		doc.Write(sc.Bytes())
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("reading stream: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("writing stream: %w", err)
	}
	return n, nil
}

// encodeDocument decodes one document and writes it back, after a "---"
// line. It reports false for a document without content.
func encodeDocument(w *bufio.Writer, doc []byte) (bool, error) {
	node, err := yaml.Parse(string(doc))
	if errors.Is(err, io.EOF) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if y := node.YNode(); y == nil || y.Kind == yaml.ScalarNode && y.Tag == yaml.NodeTagNull && y.Value == "" {
		return false, nil
	}
	out, err := node.String()
	if err != nil {
		return false, fmt.Errorf("encoding: %w", err)
	}
	w.WriteString("---\n")
	_, err = w.WriteString(out)
	return true, err
}

// isMarker reports whether line starts a document: "---" alone or followed
// by white space, as kmirror's own splitter reads it.
func isMarker(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r'
}
