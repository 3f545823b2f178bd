package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

const ecr = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

func engine(t testing.TB) *mirror.Engine {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestRewriteKeepsEverythingButImages(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain with comment",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25   # pinned\n",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: " + ecr + "/dockerhub/nginx:1.25   # pinned\n"},
		{"double quoted",
			"kind: Pod\nspec:\n  containers:\n    - image: \"quay.io/a/b\"\n      name: x\n",
			"kind: Pod\nspec:\n  containers:\n    - image: \"" + ecr + "/quay/a/b\"\n      name: x\n"},
		{"single quoted",
			"kind: Pod\nspec:\n  containers: [{image: 'k8s.gcr.io/pause:3.1'}]\n",
			"kind: Pod\nspec:\n  containers: [{image: '" + ecr + "/gcr/google_containers/pause:3.1'}]\n"},
		{"flow mapping, two images on a line",
			"kind: Pod\nspec: {containers: [{image: nginx}, {image: quay.io/x/y}]}\n",
			"kind: Pod\nspec: {containers: [{image: " + ecr + "/dockerhub/nginx}, {image: " + ecr + "/quay/x/y}]}\n"},
		{"escape",
			"kind: Pod\nspec:\n  containers:\n  - image: direct.to/busybox:latest\n",
			"kind: Pod\nspec:\n  containers:\n  - image: busybox:latest\n"},
		{"escape to a name that reads as a number is quoted",
			"kind: Pod\nspec:\n  containers:\n  - image: direct.to/1234\n",
			"kind: Pod\nspec:\n  containers:\n  - image: \"1234\"\n"},
		{"tag and anchor before the value",
			"kind: Pod\nspec:\n  containers:\n  - image: !!str &img nginx\n  - image: *img\n",
			"kind: Pod\nspec:\n  containers:\n  - image: !!str &img " + ecr + "/dockerhub/nginx\n  - image: *img\n"},
		{"CRLF line ends",
			"kind: Pod\r\nspec:\r\n  containers:\r\n  - image: nginx\r\n",
			"kind: Pod\r\nspec:\r\n  containers:\r\n  - image: " + ecr + "/dockerhub/nginx\r\n"},
		{"JSON with non-ASCII before the image",
			`{"kind":"Pod","metadata":{"name":"ünïcödé"},"spec":{"containers":[{"name":"é","image":"nginx"}]}}`,
			`{"kind":"Pod","metadata":{"name":"ünïcödé"},"spec":{"containers":[{"name":"é","image":"` + ecr + `/dockerhub/nginx"}]}}`},
		{"indented JSON with tabs",
			"{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\n\t\t\"containers\": [\n\t\t\t{\"image\": \"quay.io/a/b:1\"}\n\t\t]\n\t}\n}\n",
			"{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\n\t\t\"containers\": [\n\t\t\t{\"image\": \"" + ecr + "/quay/a/b:1\"}\n\t\t]\n\t}\n}\n"},
		{"documents, separators and comments",
			"# head\n---\nkind: ConfigMap\ndata: {a: nginx}\n--- # second\nkind: Pod\nspec:\n  containers: [{image: nginx}]\n...\n---\n\n---\nkind: Pod # no images\n",
			"# head\n---\nkind: ConfigMap\ndata: {a: nginx}\n--- # second\nkind: Pod\nspec:\n  containers: [{image: " + ecr + "/dockerhub/nginx}]\n...\n---\n\n---\nkind: Pod # no images\n"},
		{"directives stay with their document",
			"kind: Pod\n...\n%YAML 1.1\n---\nkind: Pod\nspec: {containers: [{image: nginx}]}\n",
			"kind: Pod\n...\n%YAML 1.1\n---\nkind: Pod\nspec: {containers: [{image: " + ecr + "/dockerhub/nginx}]}\n"},
		{"no final newline",
			"kind: Pod\nspec:\n  containers: [{image: nginx}]",
			"kind: Pod\nspec:\n  containers: [{image: " + ecr + "/dockerhub/nginx}]"},
		{"nothing to do",
			"kind: Pod\nspec:\n  containers: [{image: ghcr.io/x/y}]\n",
			"kind: Pod\nspec:\n  containers: [{image: ghcr.io/x/y}]\n"},
		{"empty stream", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Rewrite("in.yaml", []byte(tc.in), engine(t))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(res.Output)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRewriteCounts(t *testing.T) {
	in := "kind: Pod\nmetadata: {name: a, namespace: ns}\nspec:\n  containers: [{image: nginx}, {image: ghcr.io/x}]\n" +
		"---\nkind: ConfigMap\n---\n# only a comment\n---\nkind: Pod\nmetadata: {name: b}\nspec:\n  initContainers: [{image: quay.io/a/b}]\n  containers: [{image: Bad}]\n"
	res, err := Rewrite("in.yaml", []byte(in), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 3 || res.Changed != 2 || len(res.Images) != 4 || len(res.Rewritten()) != 2 {
		t.Errorf("documents %d, changed %d, images %d, rewritten %d; want 3, 2, 4, 2",
			res.Documents, res.Changed, len(res.Images), len(res.Rewritten()))
	}
	wantLoc := Location{File: "in.yaml", Document: 3, Line: 14, Object: Object{Kind: "Pod", Name: "b"}, Path: "spec.containers[0].image"}
	if len(res.Warnings) != 1 {
		t.Fatalf("warnings: %v, want one", res.Warnings)
	}
	if diff := cmp.Diff(wantLoc, res.Warnings[0].Location); diff != "" {
		t.Errorf("warning location (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Warnings[0].String(), `in.yaml: document 3 (Pod b), line 14: spec.containers[0].image: invalid image reference "Bad"`) {
		t.Errorf("warning reads %q", res.Warnings[0])
	}
	first := res.Images[0]
	if first.Location.Line != 4 || first.Object.Namespace != "ns" || first.Decision.Action != mirror.Mirrored {
		t.Errorf("first image: %+v", first)
	}
}

func TestRewriteLeavesWhatItCannotEdit(t *testing.T) {
	tests := []struct{ name, in, warning string }{
		{"block scalar", "kind: Pod\nspec:\n  containers:\n  - image: |-\n      nginx\n", "a block scalar"},
		{"alias of a non-image", "kind: Pod\nmetadata:\n  labels: {img: &i nginx}\nspec:\n  containers:\n  - image: *i\n", "YAML anchor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Rewrite("in.yaml", []byte(tc.in), engine(t))
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Output) != tc.in {
				t.Errorf("output changed:\n%s", res.Output)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, tc.warning) {
				t.Errorf("warnings %v, want one about %q", res.Warnings, tc.warning)
			}
			if len(res.Rewritten()) != 0 {
				t.Errorf("reported rewrites %v for an image left as it was", res.Rewritten())
			}
		})
	}
}

func TestRewriteSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, in  string
		doc, line int
	}{
		{"bad mapping in the second document", "kind: Pod\n---\n# c\nkind: Pod\nspec:\n  containers: [\n  a: b: c\n", 2, 7},
		{"tab indentation", "kind: A\n---\nkind: B\n---\nkind: Pod\nspec:\n\tcontainers: []\n", 3, 7},
		{"unclosed quote", "a: x\n---\na: \"b\n", 2, 3},
		{"broken JSON", `{"kind": "Pod", "spec": {`, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rewrite("bad.yaml", []byte(tc.in), engine(t))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Rewrite = %v, want a *SyntaxError", err)
			}
			if se.File != "bad.yaml" || se.Document != tc.doc || se.Line != tc.line {
				t.Errorf("error at %s document %d line %d, want bad.yaml document %d line %d (%v)",
					se.File, se.Document, se.Line, tc.doc, tc.line, err)
			}
			if strings.Contains(err.Error(), "yaml: line") {
				t.Errorf("error %q carries the parser's chunk-relative line", err)
			}
		})
	}
}

// split collects the chunks of in, copying each, since splitDocuments
// reuses its buffer.
func split(t *testing.T, in string) []Chunk {
	t.Helper()
	var out []Chunk
	err := splitDocuments(strings.NewReader(in), func(c Chunk) error {
		if in[c.Offset:c.Offset+int64(len(c.Data))] != string(c.Data) {
			t.Errorf("chunk at %d does not match the stream", c.Offset)
		}
		c.Data = bytes.Clone(c.Data)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		lines    []int
	}{
		{"markers", "a: 1\n---\nb: 2\n--- \nc: 3\n---x: 4\n  ---\n---\t# t\n",
			[]string{"a: 1\n", "---\nb: 2\n", "--- \nc: 3\n---x: 4\n  ---\n", "---\t# t\n"}, []int{1, 2, 4, 8}},
		{"comments, directives and empty documents join the next document",
			"# c\n---\n---\n%YAML 1.2\n--- # d\nkind: A\n--- {kind: B}\n---\nkind: C\n",
			[]string{"# c\n---\n---\n%YAML 1.2\n--- # d\nkind: A\n", "--- {kind: B}\n", "---\nkind: C\n"}, []int{1, 7, 8}},
		{"directive after a document", "a: 1\n...\n%YAML 1.1\n# c\n---\nb: 2",
			[]string{"a: 1\n...\n", "%YAML 1.1\n# c\n---\nb: 2"}, []int{1, 3}},
		{"a comment marker longer than the document before it",
			"a: 1\n--- # xxxxxxxxxxxxxxxxxxxxxxxx\n--- \nb: 2\n",
			[]string{"a: 1\n", "--- # xxxxxxxxxxxxxxxxxxxxxxxx\n--- \nb: 2\n"}, []int{1, 2}},
		{"empty", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var lines []int
			for _, c := range split(t, tc.in) {
				got = append(got, string(c.Data))
				lines = append(lines, c.Line)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.lines, lines); diff != "" {
				t.Errorf("first lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLongLines covers lines longer than the reader's buffer, as in JSON
// written on one line.
func TestLongLines(t *testing.T) {
	pad := strings.Repeat("x", 200<<10)
	in := `{"kind":"Pod","metadata":{"name":"` + pad + `"},"spec":{"containers":[{"image":"nginx"}]}}` + "\n---\n" +
		"kind: Pod\nmetadata: {name: " + pad + "}\nspec: {containers: [{image: quay.io/a/b}]}\n"
	res, err := Rewrite("long.json", []byte(in), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(in, `"image":"nginx"`, `"image":"`+ecr+`/dockerhub/nginx"`, 1),
		"image: quay.io/a/b", "image: "+ecr+"/quay/a/b", 1)
	if string(res.Output) != want || res.Documents != 2 || res.Images[1].Line != 5 {
		t.Errorf("documents %d, second image at line %d, output as expected: %v", res.Documents, res.Images[1].Line, string(res.Output) == want)
	}
}

// TestScanParts checks that Scan hands every part over in order, with
// its images numbered in the stream, and that the parts written out are
// what Rewrite gives.
func TestScanParts(t *testing.T) {
	var in strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&in, "---\nkind: Pod\nmetadata: {name: p%d}\nspec:\n  containers: [{image: nginx}, {image: ghcr.io/x}, {image: Bad}]\n", i)
	}
	var out bytes.Buffer
	var images []Image
	sum, err := Scan("in", strings.NewReader(in.String()), engine(t), func(p *Part) error {
		images = append(images, p.Images...)
		_, err := p.WriteTo(&out)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Documents != 3000 || sum.Rewrites != 3000 || sum.Changed != 3000 || sum.Warnings != 3000 || sum.Images != 9000 {
		t.Errorf("summary %+v", sum)
	}
	for i, img := range images {
		if want := i/3 + 1; img.Document != want || img.Object.Name != fmt.Sprintf("p%d", want-1) || img.Line != 5*want {
			t.Fatalf("image %d: document %d, object %s, line %d; want document %d, line %d", i, img.Document, img.Object, img.Line, want, 5*want)
		}
	}
	all, err := Rewrite("in", []byte(in.String()), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(all.Output) || len(all.Images) != 9000 {
		t.Errorf("parts written differ from Rewrite's output")
	}
}

// TestScanStopsAtTheFirstError checks that fn never sees a part after
// the one at fault, and that an error from fn stops the scan.
func TestScanStopsAtTheFirstError(t *testing.T) {
	var in strings.Builder
	for i := range 2000 {
		if i == 1500 {
			in.WriteString("---\nkind: Pod\nspec: [\n")
		}
		fmt.Fprintf(&in, "---\nkind: Pod\nspec:\n  containers: [{image: nginx}]\n")
	}
	seen := 0
	_, err := Scan("in", strings.NewReader(in.String()), engine(t), func(p *Part) error {
		seen += p.Documents
		return nil
	})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Document != 1501 || se.Line != 1500*4+3 {
		t.Fatalf("Scan = %v, want a syntax error in document 1501, line %d", err, 1500*4+3)
	}
	if seen > 1500 {
		t.Errorf("fn saw %d documents, more than the 1500 before the error", seen)
	}
	stop := errors.New("stop")
	calls := 0
	_, err = Scan("in", strings.NewReader(in.String()), engine(t), func(p *Part) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Scan = %v after %d calls, want fn's error after one", err, calls)
	}
}

// TestScanReadError reports a stream that fails while being read.
func TestScanReadError(t *testing.T) {
	_, err := Scan("pipe", io.MultiReader(strings.NewReader("kind: Pod\n"), iotest.ErrReader(errors.New("broken pipe"))), engine(t),
		func(*Part) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "reading pipe: broken pipe") {
		t.Errorf("Scan = %v, want the read error", err)
	}
}
