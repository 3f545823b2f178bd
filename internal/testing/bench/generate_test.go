package bench

import (
	"bytes"
	"io"
	"testing"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/rules"
)

func generate(t *testing.T, seed uint64, size int) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Generate(&buf, Options{Seed: seed, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != buf.Len() {
		t.Fatalf("Stats.Bytes = %d, but %d bytes were written", st.Bytes, buf.Len())
	}
	return buf.Bytes(), st
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, _ := generate(t, 7, 200_000)
	b, _ := generate(t, 7, 200_000)
	c, _ := generate(t, 8, 200_000)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave two different streams")
	}
	if bytes.Equal(a, c) {
		t.Error("two seeds gave the same stream")
	}
}

// TestGenerateMeetsTheMinimums holds the benchmark's stream to the issue:
// at least 10 MB and 20,000 documents, every kind present.
func TestGenerateMeetsTheMinimums(t *testing.T) {
	_, st := generate(t, 1, mainSize)
	if st.Bytes < mainSize || st.Bytes > mainSize+10_000 {
		t.Errorf("the stream has %d bytes, want %d and at most one document more", st.Bytes, mainSize)
	}
	if st.Documents < minDocs {
		t.Errorf("the stream has %d documents, want at least %d", st.Documents, minDocs)
	}
	for _, k := range kinds {
		if st.Kinds[k.name] == 0 {
			t.Errorf("the stream has no %s", k.name)
		}
	}
}

// TestGenerateParses decodes a stream document by document with kyaml, and
// checks that kmirror finds and rewrites the images the generator counted.
func TestGenerateParses(t *testing.T) {
	data, st := generate(t, 3, 1_000_000)
	n, err := Baseline(bytes.NewReader(data), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if n != st.Documents {
		t.Errorf("Baseline decoded %d documents, want %d", n, st.Documents)
	}
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	res, err := manifest.Rewrite("stream.yaml", data, eng)
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != st.Documents || len(res.Images) != st.Images || len(res.Rewritten()) != st.Rewrites {
		t.Errorf("kmirror found %d documents, %d images, %d rewritten; want %d, %d, %d",
			res.Documents, len(res.Images), len(res.Rewritten()), st.Documents, st.Images, st.Rewrites)
	}
	for _, w := range res.Warnings {
		t.Errorf("warning: %s", w)
	}
}

func TestBaselineSkipsEmptyDocuments(t *testing.T) {
	in := "# only a comment\n---\na: 1\n---\n---\n# another\n--- # marked\nb: [2]\n"
	var out bytes.Buffer
	n, err := Baseline(bytes.NewReader([]byte(in)), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "---\na: 1\n---\n# marked\nb: [2]\n"; n != 2 || out.String() != want {
		t.Errorf("Baseline = %d, %q; want 2, %q", n, out.String(), want)
	}
}
