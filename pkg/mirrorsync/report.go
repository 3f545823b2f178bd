package mirrorsync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Report is what a run did, as "kmirror sync -o json" writes it and
// MergeReports joins the reports of several shards.
type Report struct {
	DryRun bool `json:"dryRun"`
	// Shard is the share of the pairs the run handled; nil for a whole
	// run.
	Shard   *Shard        `json:"shard,omitempty"`
	Summary Summary       `json:"summary"`
	Images  []ReportImage `json:"images"`
}

// ReportImage is what became of one pair.
type ReportImage struct {
	Pair
	Status Status `json:"status"`
	Digest string `json:"digest,omitempty"`
	// DigestOnly: a "repo:tag@digest" source was copied by its digest
	// alone, its tag left as it was (see Result.DigestOnly).
	DigestOnly bool    `json:"digestOnly,omitempty"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	// Error says why a pair failed.
	Error string `json:"error,omitempty"`
}

// NewReport is the report of a run of shard s (the zero Shard for a whole
// run) that gave results.
func NewReport(results []Result, dryRun bool, s Shard) Report {
	rep := Report{DryRun: dryRun, Summary: Summarize(results), Images: []ReportImage{}}
	if !s.Whole() {
		rep.Shard = &s
	}
	for _, r := range results {
		img := ReportImage{Pair: r.Pair, Status: r.Status, Digest: r.Digest, DigestOnly: r.DigestOnly, Bytes: r.Bytes, Seconds: r.Duration.Seconds()}
		if r.Err != nil && r.Status != Interrupted {
			img.Error = r.Err.Error()
		}
		rep.Images = append(rep.Images, img)
	}
	return rep
}

// rank orders the outcomes of one pair in several reports: the best one
// stands for the pair.
var rank = map[Status]int{Interrupted: 0, Failed: 1, WouldCopy: 2, Present: 3, Copied: 4}

// MergeReports joins the reports of the shards of one run into the report
// of the whole run. Reports of shards must all be of one count, and hold
// every shard at least once: a missing shard is an error, since its pairs
// are unaccounted for. A shard reported twice (a Pod of a Job run again)
// is fine: each pair counts once, by its best outcome in any report, since
// a pair that one run put into the mirror stays there. Reports without a
// shard are joined the same way.
func MergeReports(reports []Report) (Report, error) {
	if len(reports) == 0 {
		return Report{}, errors.New("no report to merge")
	}
	out := Report{DryRun: reports[0].DryRun, Images: []ReportImage{}}
	seen := map[Pair]int{}
	var count int
	shards := map[int]bool{}
	for n, rep := range reports {
		if rep.DryRun != out.DryRun {
			kinds := map[bool]string{true: "a dry run", false: "a run that copied"}
			return Report{}, fmt.Errorf("report %d is of %s, report 1 of %s", n+1, kinds[rep.DryRun], kinds[out.DryRun])
		}
		switch {
		case rep.Shard == nil && count > 0, rep.Shard != nil && n > 0 && count == 0:
			return Report{}, fmt.Errorf("report %d: reports of shards and of whole runs do not merge", n+1)
		case rep.Shard != nil && count > 0 && rep.Shard.Count != count:
			return Report{}, fmt.Errorf("report %d is of shard %s, the first of a count of %d", n+1, rep.Shard, count)
		case rep.Shard != nil:
			count = rep.Shard.Count
			shards[rep.Shard.Index] = true
		}
		for _, img := range rep.Images {
			i, ok := seen[img.Pair]
			switch {
			case !ok:
				seen[img.Pair] = len(out.Images)
				out.Images = append(out.Images, img)
			case rank[img.Status] > rank[out.Images[i].Status]:
				out.Images[i] = img
			}
		}
	}
	var missing []string
	for i := range count {
		if !shards[i] {
			missing = append(missing, Shard{Index: i, Count: count}.String())
		}
	}
	if len(missing) > 0 {
		return Report{}, fmt.Errorf("no report of shard %s: its images are unaccounted for", strings.Join(missing, ", "))
	}
	for _, img := range out.Images {
		out.Summary.add(img.Status, img.Bytes, img.DigestOnly)
	}
	return out, nil
}

// ReadReports reads the reports in r, named name in errors: one or more
// JSON reports, one after the other, as "kubectl logs" prints the output
// of the Pods of a Job. Lines between reports that are not JSON (what a
// Pod wrote on stderr, which kubectl logs mixes in) are skipped and
// returned, with their line numbers, so that the caller can show them.
func ReadReports(r io.Reader, name string) ([]Report, []string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var (
		reports []Report
		skipped []string
		off     int
	)
	for off < len(data) {
		rest := data[off:]
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			break
		}
		start := off + len(rest) - len(trimmed)
		line := 1 + bytes.Count(data[:start], []byte("\n"))
		if trimmed[0] != '{' {
			end, _, _ := bytes.Cut(trimmed, []byte("\n"))
			skipped = append(skipped, fmt.Sprintf("%s:%d: %s", name, line, bytes.TrimSpace(end)))
			off = start + len(end)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		var rep Report
		if err := dec.Decode(&rep); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: reading a report: %w", name, line, err)
		}
		if rep.Images == nil {
			return nil, nil, fmt.Errorf("%s:%d: a JSON object without images is not a report of kmirror sync -o json", name, line)
		}
		reports = append(reports, rep)
		off = start + int(dec.InputOffset())
	}
	if len(reports) == 0 {
		return nil, skipped, fmt.Errorf("%s holds no report", name)
	}
	return reports, skipped, nil
}
