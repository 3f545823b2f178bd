package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The stream sizes of the memory benchmark, and its target.
const (
	pathsMidSize   = 47_000_000
	pathsLargeSize = 200_000_000
	maxPathRSS     = 64e6
)

// path is one way kmirror reads a stream: its arguments, and whether the
// stream comes on stdin, as a ResourceList or as it is.
type path struct {
	name          string
	args          []string
	stdin, asList bool
}

var paths = []path{
	{name: "rewrite -q FILE", args: []string{"rewrite", "-q"}},
	{name: "rewrite -q - < FILE", args: []string{"rewrite", "-q", "-"}, stdin: true},
	{name: "kmirror < FILE", stdin: true},
	{name: "kmirror < RESOURCELIST (KRM)", stdin: true, asList: true},
	{name: "rewrite --check -o json FILE", args: []string{"rewrite", "--check", "-o", "json", "-q"}},
	{name: "images -o json FILE", args: []string{"images", "-o", "json"}},
}

// BenchmarkRewritePaths runs each path by which kmirror reads a stream on
// a 47 MB and a 200 MB stream, as a process of its own, and reports its
// peak RSS against the target, its time as a ratio of the plain file
// path's, and how the time per MB grows from 47 MB to 200 MB.
func BenchmarkRewritePaths(b *testing.B) {
	dir := b.TempDir()
	sizes := []int{pathsMidSize, pathsLargeSize}
	files := map[int][2]string{}
	for _, size := range sizes {
		file, _ := generateFile(b, dir, size)
		files[size] = [2]string{file, resourceListFile(b, file)}
	}
	results := map[int][]run{}
	for b.Loop() {
		for _, size := range sizes {
			results[size] = nil
			for _, p := range paths {
				results[size] = append(results[size], runPath(b, p, files[size]))
			}
		}
	}
	fmt.Printf("\nkmirror's ways in, each a process of its own, output to /dev/null; target: peak RSS under %.0f MB\n", mb(maxPathRSS))
	fmt.Printf("machine: %s; one run each\n", machine())
	fmt.Printf("  %-30s %10s %10s %12s %12s %10s\n", "", "47 MB", "RSS", "200 MB", "RSS", "MB/s")
	worst := 0.0
	for i, p := range paths {
		m, l := results[pathsMidSize][i], results[pathsLargeSize][i]
		worst = max(worst, float64(max(m.rss, l.rss)))
		fmt.Printf("  %-30s %9.2fs %7.1f MB %11.2fs %7.1f MB %10.1f  %s\n", p.name, m.wall.Seconds(), mb(m.rss),
			l.wall.Seconds(), mb(l.rss), mbps(pathsLargeSize, l.wall), verdict(max(m.rss, l.rss) < maxPathRSS))
		b.ReportMetric(mb(max(m.rss, l.rss)), fmt.Sprintf("path%d-peak-RSS-MB", i+1))
	}
	file := results[pathsLargeSize][0]
	perMB := (file.wall.Seconds() / mb(pathsLargeSize)) / (results[pathsMidSize][0].wall.Seconds() / mb(pathsMidSize))
	fmt.Printf("  time per MB of the file path, 200 MB / 47 MB: %.2f (1 is linear)\n", perMB)
	fmt.Printf("  largest peak RSS %.1f MB (target < %.0f MB): %s\n\n", mb(int64(worst)), mb(maxPathRSS), verdict(worst < maxPathRSS))
	b.ReportMetric(mb(int64(worst)), "largest-peak-RSS-MB")
	b.ReportMetric(perMB, "per-MB-time-ratio-200MB/47MB")
}

// runPath runs one path on files: the stream and its ResourceList.
func runPath(b *testing.B, p path, files [2]string) run {
	b.Helper()
	file := files[0]
	if p.asList {
		file = files[1]
	}
	args := p.args
	var stdin *os.File
	if p.stdin {
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		stdin = f
	} else {
		args = append(args[:len(args):len(args)], file)
	}
	cmd := exec.Command(kmirrorBinary(b), args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil && !(p.args != nil && p.args[1] == "--check" && cmd.ProcessState.ExitCode() == 1) {
		b.Fatalf("%s: %v: %s", p.name, err, stderr.String())
	}
	wall := time.Since(start)
	ps := cmd.ProcessState
	return run{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rss: peakRSS(ps)}
}

// resourceListFile writes the documents of the stream file as the items of
// a ResourceList, in the layout kustomize writes, and returns its path.
func resourceListFile(b *testing.B, file string) string {
	b.Helper()
	path := strings.TrimSuffix(file, ".yaml") + "-resourcelist.yaml"
	writeItems(b, file, path, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n", "")
	return path
}

// The targets of the linearity benchmark.
const (
	linearJSONSize = 12_000_000
	linearDiffSize = 47_000_000
	maxLinearRatio = 3
)

// BenchmarkRewriteLinear checks that two inputs once quadratic are not:
// a JSON List written on one line against the same written indented, and
// "rewrite --diff" against "rewrite", each a ratio of wall times.
func BenchmarkRewriteLinear(b *testing.B) {
	dir := b.TempDir()
	stream, _ := generateFile(b, dir, linearDiffSize)
	oneLine, indented := jsonListFiles(b, stream, dir, linearJSONSize)
	var one, ind, diff, plain run
	for b.Loop() {
		var ones, inds, diffs, plains []run
		for range 3 {
			ones = append(ones, mustRun(b, "rewrite", "-q", oneLine))
			inds = append(inds, mustRun(b, "rewrite", "-q", indented))
			diffs = append(diffs, mustRun(b, "rewrite", "-q", "--diff", stream))
			plains = append(plains, mustRun(b, "rewrite", "-q", stream))
		}
		one, ind, diff, plain = summary(ones), summary(inds), summary(diffs), summary(plains)
	}
	jsonRatio, diffRatio := one.wall.Seconds()/ind.wall.Seconds(), diff.wall.Seconds()/plain.wall.Seconds()
	fmt.Printf("\nlinear time: median of 3 interleaved runs; machine: %s\n", machine())
	fmt.Printf("  %.1f MB JSON List on one line %.2fs, indented %.2fs: ratio %.2f (target <= %d): %s\n",
		mb(fileSize(b, oneLine)), one.wall.Seconds(), ind.wall.Seconds(), jsonRatio, maxLinearRatio, verdict(jsonRatio <= maxLinearRatio))
	fmt.Printf("  %.0f MB stream, rewrite --diff %.2fs, rewrite %.2fs: ratio %.2f (target <= %d): %s\n\n",
		mb(linearDiffSize), diff.wall.Seconds(), plain.wall.Seconds(), diffRatio, maxLinearRatio, verdict(diffRatio <= maxLinearRatio))
	b.ReportMetric(jsonRatio, "one-line-json/indented")
	b.ReportMetric(diffRatio, "diff/rewrite")
}

func mustRun(b *testing.B, args ...string) run {
	b.Helper()
	r, _, err := runProcess(nil, kmirrorBinary(b), args...)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func fileSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// jsonListFiles writes the first documents of the stream file, up to
// about size bytes, as one JSON List, once on one line and once indented,
// as "kubectl get -o json" writes it.
func jsonListFiles(b *testing.B, file, dir string, size int) (oneLine, indented string) {
	b.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var items []json.RawMessage
	total := 0
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for total < size {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		if v == nil {
			continue
		}
		item, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, item)
		total += len(item)
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		b.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, list, "", "    "); err != nil {
		b.Fatal(err)
	}
	oneLine, indented = filepath.Join(dir, "list-one-line.json"), filepath.Join(dir, "list-indented.json")
	if err := os.WriteFile(oneLine, list, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(indented, pretty.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return oneLine, indented
}
