package mirrorsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewReport(t *testing.T) {
	rep := NewReport([]Result{
		{Pair: Pair{"a:1", "m/a:1"}, Status: Copied, Digest: d1, Bytes: 10, Duration: 1500 * time.Millisecond},
		{Pair: Pair{"b:1", "m/b:1"}, Status: Failed, Err: errors.New("checking b:1: not found in r")},
		{Pair: Pair{"c:1", "m/c:1"}, Status: Interrupted, Err: context.Canceled},
	}, false, Shard{Index: 1, Count: 3})
	want := Report{
		Shard:   &Shard{Index: 1, Count: 3},
		Summary: Summary{Copied: 1, Failed: 1, Interrupted: 1, Bytes: 10},
		Images: []ReportImage{
			{Pair: Pair{"a:1", "m/a:1"}, Status: Copied, Digest: d1, Bytes: 10, Seconds: 1.5},
			{Pair: Pair{"b:1", "m/b:1"}, Status: Failed, Error: "checking b:1: not found in r"},
			{Pair: Pair{"c:1", "m/c:1"}, Status: Interrupted},
		},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep := NewReport(nil, true, Shard{}); rep.Shard != nil || rep.Images == nil || !rep.DryRun {
		t.Errorf("a whole dry run with nothing to do: %+v", rep)
	}
}

// shardReport is the report of shard index of count, with the images
// given as "source status".
func shardReport(index, count int, images ...string) Report {
	rep := Report{Images: []ReportImage{}}
	if count > 0 {
		rep.Shard = &Shard{Index: index, Count: count}
	}
	for _, img := range images {
		src, st, _ := strings.Cut(img, " ")
		ri := ReportImage{Pair: Pair{src, "m/" + src}, Status: Status(st)}
		if ri.Status == Copied {
			ri.Bytes = 100
		}
		rep.Images = append(rep.Images, ri)
		rep.Summary.add(ri.Status, ri.Bytes, ri.DigestOnly)
	}
	return rep
}

func TestMergeReports(t *testing.T) {
	got, err := MergeReports([]Report{
		shardReport(2, 3, "e:1 copied", "f:1 interrupted"),
		shardReport(0, 3, "a:1 copied", "b:1 failed"),
		shardReport(1, 3, "c:1 present", "d:1 copied"),
		// Shard 2's Pod ran again: f:1 is done now, e:1 was copied by
		// the first Pod and is present.
		shardReport(2, 3, "e:1 present", "f:1 copied"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, img := range got.Images {
		lines = append(lines, img.Source+" "+string(img.Status))
	}
	if diff := cmp.Diff([]string{"e:1 copied", "f:1 copied", "a:1 copied", "b:1 failed", "c:1 present", "d:1 copied"}, lines); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Copied: 4, Present: 1, Failed: 1, Bytes: 400}, got.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if got.Shard != nil {
		t.Errorf("the merged report is of shard %v", got.Shard)
	}

	// Whole runs merge too.
	if got, err := MergeReports([]Report{shardReport(0, 0, "a:1 failed"), shardReport(0, 0, "a:1 copied", "b:1 present")}); err != nil || got.Summary != (Summary{Copied: 1, Present: 1, Bytes: 100}) {
		t.Errorf("whole runs: %+v, %v", got.Summary, err)
	}

	for _, tc := range []struct {
		name    string
		reports []Report
		want    string
	}{
		{"a shard missing", []Report{shardReport(0, 4), shardReport(2, 4)}, "no report of shard 1/4, 3/4: its images are unaccounted for"},
		{"other counts", []Report{shardReport(0, 2), shardReport(1, 3)}, "report 2 is of shard 1/3, the first of a count of 2"},
		{"shards and whole", []Report{shardReport(0, 2), shardReport(0, 0)}, "reports of shards and of whole runs do not merge"},
		{"whole and shards", []Report{shardReport(0, 0), shardReport(0, 2)}, "reports of shards and of whole runs do not merge"},
		{"dry and not", []Report{shardReport(0, 0), {DryRun: true, Images: []ReportImage{}}}, "report 2 is of a dry run, report 1 of a run that copied"},
		{"none", nil, "no report"},
	} {
		if _, err := MergeReports(tc.reports); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestReadReports reads what kubectl logs prints for the Pods of a Job:
// reports one after the other, with what the Pods wrote on stderr.
func TestReadReports(t *testing.T) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(shardReport(0, 2, "a:1 copied"))
	line := bytes.Count(b.Bytes(), []byte("\n")) + 1
	b.WriteString("kmirror: interrupted; no tag names an image that was not copied whole\n")
	enc.Encode(shardReport(1, 2, "b:1 interrupted"))
	compact, _ := json.Marshal(shardReport(1, 2, "b:1 copied"))
	b.Write(compact) // no line break at the end
	reports, skipped, err := ReadReports(&b, "logs.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 || reports[1].Images[0].Source != "b:1" || reports[2].Images[0].Status != Copied {
		t.Errorf("read %+v", reports)
	}
	if diff := cmp.Diff([]string{fmt.Sprintf("logs.txt:%d: kmirror: interrupted; no tag names an image that was not copied whole", line)}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}

	for _, tc := range []struct{ in, want string }{
		{"", "logs.txt holds no report"},
		{"kmirror: reading rules: no such file\n", "logs.txt holds no report"},
		{"{\"summary\": {}}\n", "logs.txt:1: a JSON object without images is not a report"},
		{"\n\n{\"images\": [}\n", "logs.txt:3: reading a report: "},
	} {
		if _, _, err := ReadReports(strings.NewReader(tc.in), "logs.txt"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}
