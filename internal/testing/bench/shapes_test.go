package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// shape is a stream of another shape than documents between markers,
// written from the generated stream.
type shape struct {
	name  string
	write func(b *testing.B, stream, path string)
}

var shapes = []shape{
	{"kind: List, kind after its items (kubectl get -o yaml)", writeList},
	{"JSON objects, one a line, no ---", writeJSONLines},
	{"line breaks that are lone CRs", writeLoneCRs},
}

// BenchmarkRewriteShapes runs "kmirror rewrite -q FILE" on streams of 47
// MB whose shape once made kmirror hold them whole: a List, which is one
// document; JSON objects with no marker between them; and a stream whose
// lines end with a lone CR, which a reader of lines takes for one line. It
// reports the peak RSS of each against the target of the other paths.
func BenchmarkRewriteShapes(b *testing.B) {
	dir := b.TempDir()
	stream, _ := generateFile(b, dir, pathsMidSize)
	files := make([]string, len(shapes))
	for i, s := range shapes {
		files[i] = filepath.Join(dir, fmt.Sprintf("shape-%d", i))
		s.write(b, stream, files[i])
	}
	resetPeakRSS()
	results := make([]run, len(shapes))
	for b.Loop() {
		for i, f := range files {
			results[i] = mustRun(b, "rewrite", "-q", f)
		}
	}
	fmt.Printf("\nstreams of other shapes, each a process of its own, output to /dev/null; target: peak RSS under %.0f MB\n", mb(maxPathRSS))
	fmt.Printf("machine: %s; one run each\n", machine())
	worst := int64(0)
	for i, s := range shapes {
		r := results[i]
		worst = max(worst, r.rss)
		fmt.Printf("  %-56s %6.1f MB %8.2fs %7.1f MB  %s\n", s.name, mb(fileSize(b, files[i])), r.wall.Seconds(), mb(r.rss), verdict(r.rss < maxPathRSS))
		b.ReportMetric(mb(r.rss), fmt.Sprintf("shape%d-peak-RSS-MB", i+1))
	}
	fmt.Printf("  largest peak RSS %.1f MB (target < %.0f MB): %s\n\n", mb(worst), mb(maxPathRSS), verdict(float64(worst) < maxPathRSS))
}

// writeList writes the documents of stream as the items of one List, as
// "kubectl get -o yaml" writes it: apiVersion, items, kind, metadata.
func writeList(b *testing.B, stream, path string) {
	writeItems(b, stream, path, "apiVersion: v1\nitems:\n", "kind: List\nmetadata:\n  resourceVersion: \"\"\n")
}

// writeJSONLines writes the first documents of stream, as JSON objects one
// a line, again and again to the size of stream.
func writeJSONLines(b *testing.B, stream, path string) {
	b.Helper()
	in, err := os.Open(stream)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	var lines bytes.Buffer
	dec := yaml.NewDecoder(in)
	for lines.Len() < 2_000_000 {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		if v == nil {
			continue
		}
		line, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		lines.Write(append(line, '\n'))
	}
	writeFile(b, path, func(w *bufio.Writer) {
		for written := 0; written < pathsMidSize; written += lines.Len() {
			w.Write(lines.Bytes())
		}
	})
}

// writeLoneCRs writes stream with each line break a lone CR.
func writeLoneCRs(b *testing.B, stream, path string) {
	b.Helper()
	in, err := os.Open(stream)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	writeFile(b, path, func(w *bufio.Writer) {
		buf := make([]byte, 256<<10)
		for {
			n, err := in.Read(buf)
			w.Write(bytes.ReplaceAll(buf[:n], []byte("\n"), []byte("\r")))
			if err == io.EOF {
				return
			} else if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// writeFile writes the file path with write, through a buffer, so that the
// benchmark's own memory stays small: a child process starts with the
// peak RSS of its parent.
func writeFile(b *testing.B, path string, write func(*bufio.Writer)) {
	b.Helper()
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(out, 256<<10)
	write(w)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// writeItems writes the documents of the stream file as the entries of a
// block sequence between head and tail: the first line of each after "- ",
// the others indented by two.
func writeItems(b *testing.B, stream, path, head, tail string) {
	b.Helper()
	in, err := os.Open(stream)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	writeFile(b, path, func(w *bufio.Writer) {
		w.WriteString(head)
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, 1<<20)
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "---"):
				first = true
			case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
				w.WriteString(line + "\n")
			case first:
				w.WriteString("- " + line + "\n")
				first = false
			default:
				w.WriteString("  " + line + "\n")
			}
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		w.WriteString(tail)
	})
}
