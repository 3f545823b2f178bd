package cmd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/fatih/color"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/scan"
	"kmirror.dev/kmirror/pkg/unidiff"
)

var (
	oldColor  = color.New(color.FgRed)
	newColor  = color.New(color.FgGreen)
	warnColor = color.New(color.FgYellow)
)

func printWarnings(w io.Writer, warnings []manifest.Warning) {
	for _, warn := range warnings {
		fmt.Fprintf(w, "%s %s\n", warnColor.Sprint("warning:"), warn)
	}
}

// summaryLine says what a run rewrote, or would rewrite with --check.
func summaryLine(s manifest.Summary, check bool) string {
	verb := "rewrote"
	if check {
		verb = "would rewrite"
	}
	line := fmt.Sprintf("%s %d %s in %d of %d %s", verb,
		s.Rewrites, plural(s.Rewrites, "image"), s.Changed, s.Documents, plural(s.Documents, "document"))
	if s.Left > 0 {
		line += fmt.Sprintf(", %d left unmirrored", s.Left)
	}
	if s.Kept > 0 {
		line += fmt.Sprintf(", %d kept as written (pull policy Never)", s.Kept)
	}
	if s.Warnings > 0 {
		line += fmt.Sprintf(", %d %s", s.Warnings, plural(s.Warnings, "warning"))
	}
	return line
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// output is what a command writes for the parts of its inputs: file is
// called as an input starts, part with each of its parts in order, end
// once after the last input.
type output interface {
	file(name string) error
	part(p *manifest.Part) error
	end(sum manifest.Summary) error
}

// scanTo scans files with eng, printing warnings to stderr as they come,
// and gives each part to out.
func scanTo(ctx context.Context, files []fileset.File, eng *mirror.Engine, out output, stderr io.Writer) (manifest.Summary, error) {
	sum, err := scan.Each(ctx, files, eng, scan.Visitor{
		File: out.file,
		Part: func(p *manifest.Part) error {
			printWarnings(stderr, p.Warnings)
			return out.part(p)
		},
	})
	if err == nil {
		err = out.end(sum)
	}
	return sum, err
}

// streamOutput writes the rewritten inputs one after the other, separated
// by "---" where an input does not start with one.
type streamOutput struct {
	w       io.Writer
	files   int
	started bool
	// last is the last byte written; a line break before anything is.
	last byte
}

func newStreamOutput(w io.Writer) *streamOutput {
	return &streamOutput{w: w, last: '\n'}
}

func (s *streamOutput) file(string) error {
	s.files++
	s.started = false
	return nil
}

func (s *streamOutput) part(p *manifest.Part) error {
	if !s.started {
		s.started = true
		if s.files > 1 {
			sep := ""
			if s.last != '\n' {
				sep = "\n"
			}
			if !bytes.HasPrefix(p.Data, []byte("---")) {
				sep += "---\n"
			}
			if _, err := io.WriteString(s.w, sep); err != nil {
				return err
			}
			if sep != "" {
				s.last = '\n'
			}
		}
	}
	if len(p.Data) > 0 {
		s.last = p.Data[len(p.Data)-1]
	}
	_, err := p.WriteTo(s.w)
	return err
}

func (s *streamOutput) end(manifest.Summary) error { return nil }

// diffOutput writes a unified diff of each input, read off its edits.
type diffOutput struct {
	w    io.Writer
	diff *unidiff.Writer
}

func (d *diffOutput) file(name string) error {
	if err := d.close(); err != nil {
		return err
	}
	from, to := name, name
	if !filepath.IsAbs(name) {
		from, to = "a/"+name, "b/"+name
	}
	d.diff = unidiff.New(d.w, from, to)
	if !color.NoColor {
		d.diff.Paint = paintDiff
	}
	return nil
}

func (d *diffOutput) part(p *manifest.Part) error { return d.diff.Add(p) }

func (d *diffOutput) end(manifest.Summary) error { return d.close() }

func (d *diffOutput) close() error {
	if d.diff == nil {
		return nil
	}
	err := d.diff.Close()
	d.diff = nil
	return err
}

func paintDiff(sign byte, line []byte) []byte {
	switch sign {
	case '-':
		return []byte(oldColor.Sprint(string(line)))
	case '+':
		return []byte(newColor.Sprint(string(line)))
	}
	return line
}

// checkText lists, one line each, the images --check finds: those the run
// would rewrite, and those it would leave unmirrored.
type checkText struct{ w io.Writer }

func (c *checkText) file(string) error { return nil }

func (c *checkText) part(p *manifest.Part) error {
	for _, img := range p.Images {
		var err error
		switch {
		case img.Left != "":
			_, err = fmt.Fprintf(c.w, "%s: %s left unmirrored: %s\n", img.Location, oldColor.Sprint(manifest.Printable(img.Decision.Image)), img.Left)
		case img.Decision.Changed():
			_, err = fmt.Fprintf(c.w, "%s: %s -> %s (%s)\n", img.Location, oldColor.Sprint(manifest.Printable(img.Decision.Image)),
				newColor.Sprint(manifest.Printable(img.Decision.Result)), manifest.Printable(why(img.Decision)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *checkText) end(manifest.Summary) error { return nil }

// why names what decided an image: the rule's "from", or the action.
func why(d mirror.Decision) string {
	if d.Rule != nil {
		return string(d.Action) + " by " + d.Rule.From
	}
	return string(d.Action)
}

// leftUnmirrored is the action reports give an image that the rules
// change but that is left as written.
const leftUnmirrored = "left unmirrored"

// imageReport is one image in the JSON reports.
type imageReport struct {
	manifest.Location
	Image  string `json:"image"`
	Result string `json:"result"`
	Action string `json:"action"`
	Rule   string `json:"rule,omitempty"`
	// Reason says why an image is left as written: invalid, left
	// unmirrored, or kept.
	Reason string `json:"reason,omitempty"`
	// Found says how the field is known to hold an image: builtin,
	// declared or by-name.
	Found string `json:"found"`
	// UsedBy lists the fields that name this one, a parameter's default.
	UsedBy []string `json:"usedBy,omitempty"`
}

func newImageReport(img manifest.Image) imageReport {
	d := img.Decision
	r := imageReport{Location: img.Location, Image: d.Image, Result: d.Result, Action: string(d.Action),
		Found: string(img.Found), UsedBy: img.UsedBy}
	if d.Rule != nil {
		r.Rule = d.Rule.From
	}
	switch {
	case img.Left != "":
		r.Action, r.Reason, r.Result = leftUnmirrored, img.Left, d.Image
	case d.Err != nil:
		r.Reason = d.Err.Error()
	}
	return r
}

// jsonReport writes a JSON object whose lists come as the inputs are
// read: the first list goes to the output as it grows, the warnings to a
// spool until the end, so that memory holds neither.
type jsonReport struct {
	w        io.Writer
	list     *jsonArray
	warnings *jsonArray
	spool    *fileset.Spool
	// keep chooses the images listed.
	keep func(manifest.Image) bool
	// tail gives the fields written after the lists.
	tail func(manifest.Summary) []jsonField
}

type jsonField struct {
	name  string
	value any
}

func newJSONReport(w io.Writer, list string, keep func(manifest.Image) bool, tail func(manifest.Summary) []jsonField) *jsonReport {
	io.WriteString(w, "{\n  "+quote(list)+": ")
	spool := fileset.NewSpool(0)
	return &jsonReport{w: w, list: newJSONArray(w), warnings: newJSONArray(spool), spool: spool, keep: keep, tail: tail}
}

func newCheckJSON(w io.Writer) *jsonReport {
	return newJSONReport(w, "changes", func(img manifest.Image) bool { return img.Decision.Changed() },
		func(s manifest.Summary) []jsonField {
			return []jsonField{{"summary", newCheckSummary(s)}, {"changed", s.Rewrites+s.Left > 0}}
		})
}

// checkSummary is the summary of the --check JSON report.
type checkSummary struct {
	Images    int `json:"images"`
	Left      int `json:"leftUnmirrored"`
	Kept      int `json:"kept"`
	Documents int `json:"documents"`
	Changed   int `json:"changedDocuments"`
	Warnings  int `json:"warnings"`
}

func newCheckSummary(s manifest.Summary) checkSummary {
	return checkSummary{Images: s.Rewrites, Left: s.Left, Kept: s.Kept, Documents: s.Documents, Changed: s.Changed, Warnings: s.Warnings}
}

func (r *jsonReport) file(string) error { return nil }

func (r *jsonReport) part(p *manifest.Part) error {
	for _, img := range p.Images {
		if r.keep(img) {
			r.list.add(newImageReport(img))
		}
	}
	for _, w := range p.Warnings {
		r.warnings.add(w)
	}
	return r.list.err
}

func (r *jsonReport) end(sum manifest.Summary) error {
	defer r.spool.Close()
	r.list.close()
	r.warnings.close()
	if err := cmp.Or(r.list.err, r.warnings.err); err != nil {
		return err
	}
	io.WriteString(r.w, ",\n  \"warnings\": ")
	if _, err := r.spool.WriteTo(r.w); err != nil {
		return err
	}
	for _, f := range r.tail(sum) {
		b, err := json.MarshalIndent(f.value, "  ", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(r.w, ",\n  %s: %s", quote(f.name), b)
	}
	_, err := io.WriteString(r.w, "\n}\n")
	return err
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonArray writes a JSON array one element at a time, indented as a field
// of an object indented by encoding/json. It keeps the first error.
type jsonArray struct {
	w   io.Writer
	n   int
	err error
}

func newJSONArray(w io.Writer) *jsonArray {
	_, err := io.WriteString(w, "[")
	return &jsonArray{w: w, err: err}
}

func (a *jsonArray) add(v any) {
	if a.err != nil {
		return
	}
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		a.err = err
		return
	}
	sep := ",\n    "
	if a.n == 0 {
		sep = "\n    "
	}
	a.n++
	if _, a.err = io.WriteString(a.w, sep); a.err == nil {
		_, a.err = a.w.Write(b)
	}
}

func (a *jsonArray) close() {
	if a.err != nil {
		return
	}
	end := "]"
	if a.n > 0 {
		end = "\n  ]"
	}
	_, a.err = io.WriteString(a.w, end)
}
