// Package unidiff writes the unified diff of a stream that kmirror
// rewrites, from the stream's parts and their edits.
//
// A general diff finds the longest common subsequence of two files, which
// takes time and memory that grow with the square of their length in the
// worst case. kmirror knows which bytes it changed: every line is either
// untouched or touched by an edit, so the diff is read off the edits in one
// pass, with memory for the lines of one hunk at most (spooled to a
// temporary file past a few MB). The output is what diff -u writes, "\ No
// newline at end of file" included, and the lines a run of changes removes
// come before those it adds, so that patch and git apply take it. File
// names are written as git diff writes them: with a tab after a name that
// holds a space, so that patch does not end the name there, and quoted
// with C escapes when they hold a quote, a backslash or a control
// character.
package unidiff

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
)

// Context is the number of unchanged lines shown around each change.
const Context = 3

// Writer writes the diff of one stream to w. Call Add with each part of
// the stream in order, then Close.
type Writer struct {
	w        io.Writer
	from, to string
	// Paint, when set, colours a line of the hunk body, sign included
	// ('-', '+' or ' '), newline excluded.
	Paint func(sign byte, line []byte) []byte

	// old and new count the lines read so far of each side.
	old, new int
	// before holds the last unchanged lines while no hunk is open.
	before []line
	hunk   *hunk
	// headed: the file header is written.
	headed bool
	err    error
}

// line is one line of the old stream, without its newline; last marks a
// final line that has none.
type line struct {
	text []byte
	last bool
}

// hunk is a hunk being written: its first lines and counts, its body so
// far, the lines added by the run of changes that its body ends with, and
// the unchanged lines after its last change. The added lines wait in a
// spool of their own, as a run of changes may be as long as the stream.
type hunk struct {
	oldStart, newStart, oldCount, newCount int
	body, added                            *fileset.Spool
	trailing                               []line
}

// New returns a Writer of the diff from file from to file to.
func New(w io.Writer, from, to string) *Writer {
	return &Writer{w: w, from: from, to: to}
}

// Add reads one part of the stream.
func (d *Writer) Add(p *manifest.Part) error {
	lines := split(p.Data)
	edits := p.Edits
	for i := 0; i < len(lines) && d.err == nil; {
		start, end := lines[i].start, lines[i].end
		if len(edits) == 0 || edits[0].Start >= end {
			d.same(line{p.Data[start:lineEnd(p.Data, start, end)], end == len(p.Data) && !endsLine(p.Data, end)})
			i++
			continue
		}
		// The lines the next edits touch, and the edits within them.
		j, n := i, 0
		for n < len(edits) && edits[n].Start < lines[j].end {
			for lines[j].end <= edits[n].End-1 && lines[j].end < len(p.Data) {
				j++
			}
			n++
		}
		last := lines[j].end
		d.change(p.Data[start:last], applyEdits(p.Data, start, last, edits[:n]), last == len(p.Data) && !endsLine(p.Data, last))
		edits = edits[n:]
		i = j + 1
	}
	return d.err
}

// Close writes the last hunk.
func (d *Writer) Close() error {
	if d.hunk != nil && d.err == nil {
		d.closeHunk()
	}
	return d.err
}

// same reads an unchanged line.
func (d *Writer) same(l line) {
	d.old++
	d.new++
	if d.hunk == nil {
		d.before = append(d.before, l)
		if len(d.before) > Context {
			d.before = d.before[1:]
		}
		return
	}
	d.hunk.trailing = append(d.hunk.trailing, l)
	if len(d.hunk.trailing) > 2*Context {
		d.closeHunk()
	}
}

// change reads lines old that the edits turned into new.
func (d *Writer) change(old, new []byte, last bool) {
	if d.hunk == nil {
		d.hunk = &hunk{
			oldStart: d.old + 1 - len(d.before), newStart: d.new + 1 - len(d.before),
			body: fileset.NewSpool(0), added: fileset.NewSpool(0),
		}
		d.hunk.trailing, d.before = d.before, nil
	}
	h := d.hunk
	if len(h.trailing) > 0 {
		d.endRun()
		for _, l := range h.trailing {
			d.write(h.body, ' ', l)
		}
		h.oldCount += len(h.trailing)
		h.newCount += len(h.trailing)
		h.trailing = nil
	}
	for _, side := range []struct {
		sign  byte
		text  []byte
		to    *fileset.Spool
		count *int
		lines *int
	}{{'-', old, h.body, &h.oldCount, &d.old}, {'+', new, h.added, &h.newCount, &d.new}} {
		ls := bodyLines(side.text, last)
		for _, l := range ls {
			d.write(side.to, side.sign, l)
		}
		*side.count += len(ls)
		*side.lines += len(ls)
	}
}

// endRun writes the lines that the run of changes just ended added, after
// those it removed, as diff -u groups them.
func (d *Writer) endRun() {
	h := d.hunk
	if h.added.Len() == 0 || d.err != nil {
		return
	}
	if _, err := h.added.WriteTo(h.body); err != nil {
		d.err = err
		return
	}
	if err := h.added.Reset(); err != nil {
		d.err = err
	}
}

// closeHunk writes the open hunk, with up to Context trailing lines, and
// keeps the last unchanged lines for the next.
func (d *Writer) closeHunk() {
	h := d.hunk
	d.endRun()
	n := min(Context, len(h.trailing))
	for _, l := range h.trailing[:n] {
		d.write(h.body, ' ', l)
	}
	h.oldCount += n
	h.newCount += n
	d.before = append([]line(nil), h.trailing[max(n, len(h.trailing)-Context):]...)
	d.hunk = nil
	defer h.body.Close()
	defer h.added.Close()
	if !d.headed {
		d.headed = true
		d.printf("--- %s\n+++ %s\n", header(d.from), header(d.to))
	}
	d.printf("@@ -%s +%s @@\n", span(h.oldStart, h.oldCount), span(h.newStart, h.newCount))
	if d.err == nil {
		_, d.err = h.body.WriteTo(d.w)
	}
}

// header returns a file name as git diff writes it in a header line.
func header(name string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' || r == '\\' }) {
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(name); i++ {
			switch c := name[i]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c == 0x7f:
				b.WriteString(cEscape(c))
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		name = b.String()
	}
	if strings.Contains(name, " ") {
		name += "\t"
	}
	return name
}

// cEscape writes a control character as git quotes it.
func cEscape(c byte) string {
	if i := strings.IndexByte("\a\b\t\n\v\f\r", c); i >= 0 {
		return `\` + string("abtnvfr"[i])
	}
	return fmt.Sprintf(`\%03o`, c)
}

// write writes one line of the open hunk to b.
func (d *Writer) write(b *fileset.Spool, sign byte, l line) {
	text := append([]byte{sign}, l.text...)
	if d.Paint != nil {
		text = d.Paint(sign, text)
	}
	b.Write(text)
	b.Write([]byte{'\n'})
	if l.last {
		b.Write([]byte("\\ No newline at end of file\n"))
	}
}

func (d *Writer) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.w, format, args...)
	}
}

// span formats the start and length of a hunk's side as diff -u does.
func span(start, count int) string {
	switch count {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}

// bounds are the offsets of a line in its part, newline included.
type bounds struct{ start, end int }

// split cuts data into lines as diff counts them: each ends after "\n",
// the last at the end of data.
func split(data []byte) []bounds {
	var out []bounds
	for start := 0; start < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		out = append(out, bounds{start, end})
		start = end
	}
	return out
}

func endsLine(data []byte, end int) bool { return end > 0 && data[end-1] == '\n' }

// lineEnd returns the end of the line data[start:end] without its newline.
func lineEnd(data []byte, start, end int) int {
	if end > start && data[end-1] == '\n' {
		return end - 1
	}
	return end
}

// applyEdits returns data[start:end] with the edits made.
func applyEdits(data []byte, start, end int, edits []manifest.Edit) []byte {
	var b bytes.Buffer
	pos := start
	for _, e := range edits {
		b.Write(data[pos:e.Start])
		b.WriteString(e.Text)
		pos = e.End
	}
	b.Write(data[pos:end])
	return b.Bytes()
}

// bodyLines splits text into lines without their newlines; last marks the
// final line of a stream that has no newline.
func bodyLines(text []byte, last bool) []line {
	var out []line
	for _, b := range split(text) {
		out = append(out, line{text: text[b.start:lineEnd(text, b.start, b.end)]})
	}
	if last && len(out) > 0 {
		out[len(out)-1].last = true
	}
	return out
}
