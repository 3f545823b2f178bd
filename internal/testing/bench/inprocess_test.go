package bench

import (
	"bytes"
	"testing"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/rules"
)

// BenchmarkRewriteInProcess calls manifest.Rewrite on a 2 MB stream in the
// benchmark's own process, with none of the CLI around it; it is there to
// be profiled:
//
//	go test -run '^$' -bench InProcess -benchtime 20x -cpuprofile cpu.out -memprofile mem.out ./internal/testing/bench/
func BenchmarkRewriteInProcess(b *testing.B) {
	var buf bytes.Buffer
	if _, err := Generate(&buf, Options{Seed: 1, Size: 2_000_000}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	eng, err := rules.Load("")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := manifest.Rewrite("stream.yaml", data, eng); err != nil {
			b.Fatal(err)
		}
	}
}
