package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/fatih/color"
	"github.com/pmezard/go-difflib/difflib"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

var (
	oldColor  = color.New(color.FgRed)
	newColor  = color.New(color.FgGreen)
	warnColor = color.New(color.FgYellow)
)

func printWarnings(w io.Writer, results []*manifest.Result) {
	for _, r := range results {
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "%s %s\n", warnColor.Sprint("warning:"), warn)
		}
	}
}

// summary counts what a run rewrote.
type summary struct {
	Images    int `json:"images"`
	Documents int `json:"documents"`
	Changed   int `json:"changedDocuments"`
	Warnings  int `json:"warnings"`
}

func summarize(results []*manifest.Result) summary {
	var s summary
	for _, r := range results {
		s.Images += r.Rewrites
		s.Documents += r.Documents
		s.Changed += r.Changed
		s.Warnings += len(r.Warnings)
	}
	return s
}

func (s summary) line(check bool) string {
	verb := "rewrote"
	if check {
		verb = "would rewrite"
	}
	line := fmt.Sprintf("%s %d %s in %d of %d %s", verb,
		s.Images, plural(s.Images, "image"), s.Changed, s.Documents, plural(s.Documents, "document"))
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

func writeCheckText(w io.Writer, results []*manifest.Result) {
	for _, r := range results {
		for _, img := range r.Rewritten() {
			fmt.Fprintf(w, "%s: %s -> %s (%s)\n", img.Location,
				oldColor.Sprint(img.Decision.Image), newColor.Sprint(img.Decision.Result), why(img.Decision))
		}
	}
}

// why names what decided an image: the rule's "from", or the action.
func why(d mirror.Decision) string {
	if d.Rule != nil {
		return string(d.Action) + " by " + d.Rule.From
	}
	return string(d.Action)
}

// checkReport is the --check -o json document, for CI jobs to read.
type checkReport struct {
	Changed  bool               `json:"changed"`
	Summary  summary            `json:"summary"`
	Changes  []imageReport      `json:"changes"`
	Warnings []manifest.Warning `json:"warnings"`
}

type imageReport struct {
	manifest.Location
	Image  string `json:"image"`
	Result string `json:"result"`
	Action string `json:"action"`
	Rule   string `json:"rule,omitempty"`
}

func newImageReport(img manifest.Image) imageReport {
	r := imageReport{Location: img.Location, Image: img.Decision.Image, Result: img.Decision.Result, Action: string(img.Decision.Action)}
	if img.Decision.Rule != nil {
		r.Rule = img.Decision.Rule.From
	}
	return r
}

func writeCheckJSON(w io.Writer, results []*manifest.Result) error {
	rep := checkReport{Summary: summarize(results), Changes: []imageReport{}, Warnings: []manifest.Warning{}}
	for _, r := range results {
		for _, img := range r.Rewritten() {
			rep.Changes = append(rep.Changes, newImageReport(img))
		}
		rep.Warnings = append(rep.Warnings, r.Warnings...)
	}
	rep.Changed = len(rep.Changes) > 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func writeDiffs(w io.Writer, in *inputs, results []*manifest.Result) error {
	for i, r := range results {
		if r.Changed == 0 {
			continue
		}
		before, err := io.ReadAll(in.of(i))
		if err != nil {
			return err
		}
		var after bytes.Buffer
		if err := r.Apply(&after, bytes.NewReader(before)); err != nil {
			return err
		}
		from, to := r.File, r.File
		if !filepath.IsAbs(r.File) {
			from, to = "a/"+r.File, "b/"+r.File
		}
		text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        lines(before),
			B:        lines(after.Bytes()),
			FromFile: from,
			ToFile:   to,
			Context:  3,
		})
		for _, line := range lines([]byte(text)) {
			switch {
			case len(line) > 0 && line[0] == '-' && !isHeader(line):
				oldColor.Fprint(w, line)
			case len(line) > 0 && line[0] == '+' && !isHeader(line):
				newColor.Fprint(w, line)
			default:
				fmt.Fprint(w, line)
			}
		}
	}
	return nil
}

// lines splits text into lines that each end in a newline, unlike
// difflib.SplitLines, which adds an empty line after a final newline.
func lines(text []byte) []string {
	out := strings.SplitAfter(string(text), "\n")
	if out[len(out)-1] == "" {
		return out[:len(out)-1]
	}
	out[len(out)-1] += "\n"
	return out
}

func isHeader(line string) bool {
	return len(line) >= 4 && (line[:4] == "--- " || line[:4] == "+++ ")
}
