package manifest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"kmirror.dev/kmirror/pkg/mirror"
)

// Summary counts what a scan of a stream found.
type Summary struct {
	// Documents counts the non-empty documents; Changed those with an
	// image rewritten.
	Documents, Changed int
	// Images counts the image fields; Rewrites those rewritten; Left those
	// the rules would rewrite but that are left as written, for want of a
	// safe edit; Kept those the rules would rewrite but that must stay as
	// written (mirror.Kept).
	Images, Rewrites, Left, Kept int
	// Warnings counts the problems that left images as they were.
	Warnings int
}

// Add counts one part of a stream.
func (s *Summary) Add(p *Part) {
	s.Documents += p.Documents
	s.Changed += p.Changed
	s.Images += len(p.Images)
	s.Warnings += len(p.Warnings)
	for _, img := range p.Images {
		switch {
		case img.Left != "":
			s.Left++
		case img.Decision.Changed():
			s.Rewrites++
		case img.Decision.Action == mirror.Kept:
			s.Kept++
		}
	}
}

// Sum adds the counts of another stream.
func (s *Summary) Sum(o Summary) {
	s.Documents += o.Documents
	s.Changed += o.Changed
	s.Images += o.Images
	s.Rewrites += o.Rewrites
	s.Left += o.Left
	s.Kept += o.Kept
	s.Warnings += o.Warnings
}

// partBytes is the size the reader gathers parts into before it hands them
// to a worker: large enough that handing over costs little, small enough
// that the parts in flight take little memory.
const partBytes = 256 << 10

// Scan reads the stream r, named file in reports, decides every image in
// it with eng, and calls fn with each part of the stream, in order, with
// its images, warnings and edits. Parts are parsed and decided on every
// core; memory holds a few parts per core, whatever the length of the
// stream. Scan stops at the first error: of the stream (one that does not
// parse or that kmirror refuses to edit is a *SyntaxError or an
// *EncodingError) or of fn. fn has then seen every part before the one at
// fault, so a caller that writes parts as it gets them writes to a spool
// and discards it on error.
func Scan(file string, r io.Reader, eng *mirror.Engine, fn func(*Part) error) (Summary, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := checkEncoding(file, br); err != nil {
		return Summary{}, err
	}
	split := func(yield func(Chunk) error) error { return splitDocuments(br, yield) }
	return scan(file, split, false, eng, fn)
}

// Chunk is a run of a stream: its bytes, where they start in the stream,
// and the line they start on there, counting from 1 as YAML counts lines
// (see countBreaks).
type Chunk struct {
	Data   []byte
	Offset int64
	Line   int
	// list is the part of a List handed over in parts (see listsplit.go),
	// or 0; item is the index of the first item of a run of its items.
	list, item int
}

// ScanList is Scan for the objects of a YAML block sequence, such as the
// items of a KRM ResourceList, which the caller has cut into runs of whole
// entries ("- kind: Pod ..."); items yields them in order, and may reuse
// the memory of each once yield returns. Each entry counts as a document,
// and the paths of its fields start at the entry.
func ScanList(file string, items func(yield func(Chunk) error) error, eng *mirror.Engine, fn func(*Part) error) (Summary, error) {
	return scan(file, items, true, eng, fn)
}

// scan decides the chunks that split yields, in list mode or not.
func scan(file string, split func(func(Chunk) error) error, list bool, eng *mirror.Engine, fn func(*Part) error) (Summary, error) {
	var sum Summary
	walk := WalkOf(eng)
	workers := runtime.GOMAXPROCS(0)
	// order holds the batches in stream order; its capacity bounds the
	// batches in flight.
	order := make(chan *batch, 2*workers)
	work := make(chan *batch)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			dc := decider{newMemo(eng).Decide, walk}
			for b := range work {
				b.decide(file, list, dc)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		readErr <- batches(split, order, work, quit)
		close(work)
	}()
	err := collect(order, &sum, fn)
	close(quit)
	for range order { // let the reader finish, so that r is no longer read
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && rerr != nil {
		err = fmt.Errorf("reading %s: %w", file, rerr)
	}
	return sum, err
}

// batch is a run of parts decided together.
type batch struct {
	chunks []Chunk
	parts  []*Part
	err    error
	done   chan struct{}
}

func (b *batch) decide(file string, list bool, dc decider) {
	defer close(b.done)
	for _, c := range b.chunks {
		p, err := decidePart(file, c, list, dc)
		if err != nil {
			b.err = err
			return
		}
		b.parts = append(b.parts, p)
	}
}

// batches splits the stream into batches of parts and hands each to a
// worker, and to order, until the stream ends or quit is closed. It closes
// order.
func batches(split func(func(Chunk) error) error, order, work chan<- *batch, quit <-chan struct{}) error {
	defer close(order)
	var next *batch
	size := 0
	send := func() error {
		if next == nil {
			return nil
		}
		b := next
		next, size = nil, 0
		select {
		case order <- b:
		case <-quit:
			return errStopped
		}
		select {
		case work <- b:
		case <-quit:
			return errStopped
		}
		return nil
	}
	err := split(func(c Chunk) error {
		if next == nil {
			next = &batch{done: make(chan struct{})}
		}
		// The splitter reuses its buffer.
		c.Data = append([]byte(nil), c.Data...)
		next.chunks = append(next.chunks, c)
		if size += len(c.Data); size >= partBytes {
			return send()
		}
		return nil
	})
	if err == nil {
		err = send()
	}
	if err == errStopped {
		err = nil
	}
	return err
}

var errStopped = errors.New("stopped")

// collect calls fn with the parts of each batch in stream order, numbering
// their documents in the stream. A List handed over in parts counts as
// changed once, in its first part that changes.
func collect(order <-chan *batch, sum *Summary, fn func(*Part) error) error {
	listChanged := false
	for b := range order {
		<-b.done
		for _, p := range b.parts {
			switch {
			case p.list == listHead:
				listChanged = false
			case p.list == listItems && len(p.Edits) > 0 && !listChanged:
				p.Changed, listChanged = 1, true
			}
			renumber(p, sum.Documents)
			sum.Add(p)
			if err := fn(p); err != nil {
				return err
			}
		}
		if b.err != nil {
			var se *SyntaxError
			if errors.As(b.err, &se) {
				se.Document += sum.Documents
			}
			return b.err
		}
	}
	return nil
}

// renumber counts the documents of p from the documents before it.
func renumber(p *Part, before int) {
	for i := range p.Images {
		p.Images[i].Document += before
	}
	for i := range p.Warnings {
		p.Warnings[i].Document += before
	}
}

// checkEncoding refuses a stream in UTF-16 or UTF-32, told by its byte
// order mark or by the zero bytes its first character has in those
// encodings, as the YAML specification reads it.
func checkEncoding(file string, br *bufio.Reader) error {
	b, _ := br.Peek(4)
	enc := ""
	switch {
	case hasPrefix(b, 0, 0, 0xfe, 0xff), len(b) == 4 && b[0] == 0 && b[1] == 0 && b[2] == 0:
		enc = "UTF-32BE"
	case hasPrefix(b, 0xff, 0xfe, 0, 0), len(b) == 4 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		enc = "UTF-32LE"
	case hasPrefix(b, 0xfe, 0xff), len(b) >= 2 && b[0] == 0:
		enc = "UTF-16BE"
	case hasPrefix(b, 0xff, 0xfe), len(b) >= 2 && b[1] == 0:
		enc = "UTF-16LE"
	}
	if enc != "" {
		return &EncodingError{File: file, Encoding: enc}
	}
	return nil
}

func hasPrefix(b []byte, prefix ...byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i, c := range prefix {
		if b[i] != c {
			return false
		}
	}
	return true
}
