package mirrorsync

// Report is what a run did, as "kmirror sync -o json" writes it.
type Report struct {
	DryRun  bool          `json:"dryRun"`
	Summary Summary       `json:"summary"`
	Images  []ReportImage `json:"images"`
}

// ReportImage is what became of one pair.
type ReportImage struct {
	Pair
	Status  Status  `json:"status"`
	Digest  string  `json:"digest,omitempty"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// Error says why a pair failed.
	Error string `json:"error,omitempty"`
}

// NewReport is the report of a run that gave results.
func NewReport(results []Result, dryRun bool) Report {
	rep := Report{DryRun: dryRun, Summary: Summarize(results), Images: []ReportImage{}}
	for _, r := range results {
		img := ReportImage{Pair: r.Pair, Status: r.Status, Digest: r.Digest, Bytes: r.Bytes, Seconds: r.Duration.Seconds()}
		if r.Err != nil && r.Status != Interrupted {
			img.Error = r.Err.Error()
		}
		rep.Images = append(rep.Images, img)
	}
	return rep
}
