package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// TestSyncShards: three shards of one list copy each image once between
// them, and --merge-reports joins their reports into the run's summary.
func TestSyncShards(t *testing.T) {
	host, rules := syncRegistry(t)
	var list []string
	for r := range 8 {
		for tag := range 2 {
			img := fmt.Sprintf("%s/src/repo%d:%d", host, r, tag)
			pushImage(t, img, uint64(10*r+tag+2))
			list = append(list, img)
		}
	}
	dir := t.TempDir()
	images := write(t, dir, "images.txt", strings.Join(list, "\n")+"\n")
	flags := []string{"--rules", rules, "--plain-http", host, "--images", images}

	seen := map[string]int{}
	var files []string
	for i := range 3 {
		out, errOut, code := run(t, "", append([]string{"sync", "--shard", fmt.Sprintf("%d/3", i), "-o", "json"}, flags...)...)
		if code != 0 {
			t.Fatalf("shard %d/3: exit %d\n%s%s", i, code, out, errOut)
		}
		if !strings.Contains(errOut, fmt.Sprintf("note: shard %d/3 holds ", i)) || !strings.Contains(errOut, " of the 16 images\n") {
			t.Errorf("shard %d/3 does not say what it holds:\n%s", i, errOut)
		}
		var rep mirrorsync.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Shard == nil || *rep.Shard != (mirrorsync.Shard{Index: i, Count: 3}) || rep.Summary.Copied != len(rep.Images) {
			t.Errorf("shard %d/3 report: %s", i, out)
		}
		for _, img := range rep.Images {
			seen[img.Source]++
		}
		files = append(files, write(t, dir, fmt.Sprintf("shard-%d.json", i), out))
	}
	for _, img := range list {
		if seen[img] != 1 {
			t.Errorf("%s is in %d shards, want 1", img, seen[img])
		}
	}

	// kubectl logs prints the reports one after the other, with what a
	// Pod wrote on stderr.
	a, _ := os.ReadFile(files[1])
	b, _ := os.ReadFile(files[2])
	logs := write(t, dir, "logs.txt", string(a)+"kmirror: interrupted\n"+string(b))
	out, errOut, code := run(t, "", "sync", "--merge-reports", files[0], logs)
	if code != 0 || !regexp.MustCompile(`^copied 16 images \([0-9.]+ kB\), already present 0, failed 0\n$`).MatchString(out) {
		t.Errorf("merge: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "note: not a report, skipped: "+logs+":") {
		t.Errorf("the line between the reports is not shown:\n%s", errOut)
	}
	// Again, each shard finds its images present.
	out, errOut, code = run(t, "", append([]string{"sync", "--shard", "2/3", "-q"}, flags...)...)
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("shard 2/3 again: exit %d\n%s%s", code, out, errOut)
	}

	// A shard without a report: its images are unaccounted for.
	out, errOut, code = run(t, "", "sync", "--merge-reports", files[0], files[2])
	if code != 2 || !strings.Contains(errOut, "no report of shard 1/3") {
		t.Errorf("merge without shard 1: exit %d\n%s%s", code, out, errOut)
	}
	// A failed image fails the merge.
	failed := strings.Replace(string(a), `"status": "copied"`, `"status": "failed", "error": "writing: denied"`, 1)
	out, errOut, code = run(t, "", "sync", "--merge-reports", "-o", "json", files[0], write(t, dir, "failed.json", failed), files[2])
	var rep mirrorsync.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != 1 || rep.Summary.Failed != 1 || rep.Summary.Copied != 15 || rep.Shard != nil {
		t.Errorf("merge with a failure: exit %d\n%s%s", code, out, errOut)
	}
}
