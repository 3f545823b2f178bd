package manifest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// TestRewriteUnusualInput covers inputs on which an edit once landed on
// the wrong bytes, or an image was silently missed: line breaks other than
// LF, a byte order mark, JSON that YAML refuses.
func TestRewriteUnusualInput(t *testing.T) {
	hub := ecr + "/dockerhub/nginx"
	tests := []struct{ name, in, want string }{
		{"U+2028 in a string before the image",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    args: [\"x\u2028y\"]\n    image: nginx\n    env: [{name: A, value: b}]\n",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    args: [\"x\u2028y\"]\n    image: " + hub + "\n    env: [{name: A, value: b}]\n"},
		{"U+2029 and U+0085 in strings before the image",
			"kind: Pod\nspec:\n  containers:\n  - args: ['p\u2029q', \"r\u0085s\"]\n    image: nginx\n    command: [nginx]\n",
			"kind: Pod\nspec:\n  containers:\n  - args: ['p\u2029q', \"r\u0085s\"]\n    image: " + hub + "\n    command: [nginx]\n"},
		{"a lone CR in a value",
			"kind: Pod\nmetadata:\n  labels: {a: \"x\ry\"}\nspec:\n  containers:\n  - image: nginx\n    args: [nginx]\n",
			"kind: Pod\nmetadata:\n  labels: {a: \"x\ry\"}\nspec:\n  containers:\n  - image: " + hub + "\n    args: [nginx]\n"},
		{"old Mac line ends",
			"kind: Pod\rspec:\r  containers:\r  - args: [nginx]\r    image: nginx\r",
			"kind: Pod\rspec:\r  containers:\r  - args: [nginx]\r    image: " + hub + "\r"},
		{"byte order mark and minified JSON",
			"\ufeff{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}",
			"\ufeff{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"" + hub + "\"}]}}"},
		{"byte order mark and flow YAML",
			"\ufeff{kind: Pod, spec: {containers: [{image: nginx}]}}\n",
			"\ufeff{kind: Pod, spec: {containers: [{image: " + hub + "}]}}\n"},
		{"JSON with an escaped slash and a surrogate pair",
			`{"kind":"Pod","metadata":{"name":"a\/b","annotations":{"x":"\ud83d\ude80"}},"spec":{"containers":[{"image":"quay.io\/a\/b"},{"image":"nginx"}]}}`,
			`{"kind":"Pod","metadata":{"name":"a\/b","annotations":{"x":"\ud83d\ude80"}},"spec":{"containers":[{"image":"` + ecr + `/quay/a/b"},{"image":"` + hub + `"}]}}`},
		{"a stream of JSON objects",
			"{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}\n{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}\n",
			"{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"" + hub + "\"}]}}\n{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"" + hub + "\"}]}}\n"},
		{"an escaped image that YAML reads as a date is quoted",
			"kind: Pod\nspec:\n  containers:\n  - image: direct.to/2001-12-14\n  - image: direct.to/on\n",
			"kind: Pod\nspec:\n  containers:\n  - image: \"2001-12-14\"\n  - image: \"on\"\n"},
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
			if res.Warnings != nil {
				t.Errorf("warnings: %v", res.Warnings)
			}
		})
	}
}

// TestRewriteRefuses covers streams that kmirror must refuse, naming the
// file, document and line of the fault.
func TestRewriteRefuses(t *testing.T) {
	tests := []struct {
		name, in  string
		doc, line int
		msg       string
	}{
		{"image twice in a container",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx\n    image: quay.io/a/b\n", 1, 6, `key "image" appears twice, at lines 5 and 6`},
		{"a key twice on the way to an image",
			"kind: A\n---\nkind: Pod\nspec:\n  containers: [{image: nginx}]\nmetadata: {}\nspec:\n  containers: [{image: busybox}]\n", 2, 7, `key "spec" appears twice, at lines 4 and 7`},
		{"containers twice",
			"kind: Pod\nspec:\n  containers: [{image: nginx}]\n  containers: [{image: busybox}]\n", 1, 4, `key "containers" appears twice, at lines 3 and 4`},
		{"duplicate keys in JSON",
			`{"kind":"Pod","spec":{"containers":[{"image":"nginx","image":"busybox"}]}}`, 1, 1, `key "image" appears twice, at line 1, columns 38 and 54`},
		{"invalid UTF-8",
			"kind: A\n---\nkind: Pod\nspec:\n  containers:\n  - image: nginx\n    args: [\"\xff\"]\n", 2, 7, "invalid UTF-8 (byte 0xff at column 13)"},
		{"a JSON object on a marker line, then another, as kubectl refuses",
			"--- {\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"quay.io/a\"}]}}\n{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"quay.io/b\"}]}}\n",
			2, 2, "did not find expected <document start>"},
		{"an undefined alias",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: *img\n", 1, 5, "unknown anchor 'img' referenced"},
		{"bad indentation",
			"kind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n   args: [a]\n", 1, 6, "did not find expected key"},
		{"aliases that expand without end",
			"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
				"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
				"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nkind: Pod\nspec: {containers: [{image: nginx}], x: *g}\n", 1, 1, "aliases expand"},
		{"an alias inside its own anchor",
			"kind: Pod\nspec: &s {containers: [{image: nginx}], again: *s}\n", 1, 1, "aliases expand"},
		{"aliases of long lists of scalars",
			"a: &a [" + strings.Repeat("x, ", 5000) + "x]\nb: &b [" + strings.Repeat("*a, ", 500) + "*a]\nkind: Pod\nspec: {containers: [{image: nginx}], x: *b}\n", 1, 1, "aliases expand"},
		{"aliases of wide mappings",
			"a: &a {" + wideMapping(5000) + "}\nb: &b [" + strings.Repeat("*a, ", 500) + "*a]\nkind: Pod\nspec: {containers: [{image: nginx}], x: *b}\n", 1, 1, "aliases expand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rewrite("bad.yaml", []byte(tc.in), engine(t))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Rewrite = %v, want a *SyntaxError", err)
			}
			if se.File != "bad.yaml" || se.Document != tc.doc || se.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want document %d, line %d, %q", err, tc.doc, tc.line, tc.msg)
			}
		})
	}
}

// wideMapping returns the pairs of a flow mapping with n keys.
func wideMapping(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	return strings.TrimSuffix(b.String(), ", ")
}

func TestRewriteRefusesOtherEncodings(t *testing.T) {
	pod := "kind: Pod\nspec:\n  containers: [{image: nginx}]\n"
	tests := map[string][]byte{
		"UTF-16LE": append([]byte{0xff, 0xfe}, utf16le(pod)...),
		"UTF-16BE": append([]byte{0xfe, 0xff}, utf16be(pod)...),
		"UTF-32LE": append([]byte{0xff, 0xfe, 0, 0}, utf32le(pod)...),
		"UTF-32BE": append([]byte{0, 0, 0xfe, 0xff}, utf32be(pod)...),
	}
	tests["UTF-16LE without a mark"] = utf16le(pod)
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Rewrite("win.yaml", in, engine(t))
			var ee *EncodingError
			if !errors.As(err, &ee) || !strings.HasPrefix(name, ee.Encoding) {
				t.Fatalf("Rewrite = %v, want an *EncodingError for %s", err, name)
			}
			if !strings.Contains(err.Error(), "win.yaml: the file is "+ee.Encoding+" text") || !strings.Contains(err.Error(), "convert it") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

func utf16be(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, 0, c)
	}
	return b
}

func utf32le(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, c, 0, 0, 0)
	}
	return b
}

func utf32be(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, 0, 0, 0, c)
	}
	return b
}

// TestRewriteAnchors covers images that anchors, aliases and merge keys
// bring: set where every use of the anchored value is an image, left
// unmirrored with a reason where it is not.
func TestRewriteAnchors(t *testing.T) {
	quay := ecr + "/quay/a/b"
	tests := []struct {
		name, in, want string
		left           []string
	}{
		{"a container given as an alias does not hide its siblings",
			"kind: Pod\nspec:\n  containers:\n  - &c {name: a, image: quay.io/a/b}\n  - *c\n  - {name: z, image: nginx}\n",
			"kind: Pod\nspec:\n  containers:\n  - &c {name: a, image: " + quay + "}\n  - *c\n  - {name: z, image: " + ecr + "/dockerhub/nginx}\n", nil},
		{"a merge from a container",
			"kind: Pod\nspec:\n  containers:\n  - &base\n    name: a\n    image: quay.io/a/b\n  - <<: *base\n    name: b\n",
			"kind: Pod\nspec:\n  containers:\n  - &base\n    name: a\n    image: " + quay + "\n  - <<: *base\n    name: b\n", nil},
		{"a merge that overrides the image",
			"kind: Pod\nspec:\n  containers:\n  - &base {name: a, image: quay.io/a/b}\n  - <<: *base\n    image: nginx\n",
			"kind: Pod\nspec:\n  containers:\n  - &base {name: a, image: " + quay + "}\n  - <<: *base\n    image: " + ecr + "/dockerhub/nginx\n", nil},
		{"a merge from outside the pod spec",
			"kind: Pod\nx-defaults: &d {image: quay.io/a/b}\nspec:\n  containers:\n  - <<: *d\n    name: a\n",
			"kind: Pod\nx-defaults: &d {image: quay.io/a/b}\nspec:\n  containers:\n  - <<: *d\n    name: a\n",
			[]string{"spec.containers[0].image"}},
		{"an anchored image also used as an argument",
			"kind: Pod\nspec:\n  containers:\n  - image: &i quay.io/a/b\n    args: [*i]\n",
			"kind: Pod\nspec:\n  containers:\n  - image: &i quay.io/a/b\n    args: [*i]\n",
			[]string{"spec.containers[0].image"}},
		{"an anchored image of a container whose pull policy is Never",
			"kind: Pod\nspec:\n  containers:\n  - {name: a, image: &i quay.io/a/b, imagePullPolicy: Never}\n  - {name: b, image: *i}\n",
			"kind: Pod\nspec:\n  containers:\n  - {name: a, image: &i quay.io/a/b, imagePullPolicy: Never}\n  - {name: b, image: *i}\n",
			[]string{"spec.containers[1].image"}},
		{"an anchored image of two containers whose pull policy is Never",
			"kind: Pod\nspec:\n  containers:\n  - &c {name: a, image: quay.io/a/b, imagePullPolicy: Never}\n  - <<: *c\n    name: b\n",
			"kind: Pod\nspec:\n  containers:\n  - &c {name: a, image: quay.io/a/b, imagePullPolicy: Never}\n  - <<: *c\n    name: b\n",
			nil},
		{"an anchored registry URL and an image",
			"kind: X\nx: &u docker://quay.io/a/b\n---\napiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry: {url: &v docker://quay.io/a/b}\n  containers: [{image: *v}]\n",
			"kind: X\nx: &u docker://quay.io/a/b\n---\napiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry: {url: &v docker://quay.io/a/b}\n  containers: [{image: *v}]\n",
			[]string{"spec.source.registry.url"}},
		{"a block scalar",
			"kind: Pod\nspec:\n  containers:\n  - image: >-\n      quay.io/a/b\n",
			"kind: Pod\nspec:\n  containers:\n  - image: >-\n      quay.io/a/b\n",
			[]string{"spec.containers[0].image"}},
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
			var left []string
			for _, img := range res.Images {
				if img.Left != "" {
					left = append(left, img.Path)
					if img.Decision.Action != mirror.Mirrored || img.Pulled() != img.Decision.Image || img.Rewritten() {
						t.Errorf("left image %+v", img)
					}
				}
			}
			if diff := cmp.Diff(tc.left, left); diff != "" {
				t.Errorf("images left (-want +got):\n%s", diff)
			}
			if res.Left != len(tc.left) {
				t.Errorf("summary counts %d left, want %d", res.Left, len(tc.left))
			}
		})
	}
}

// TestRewriteNotStrings covers image values that are not strings: never
// rewritten, always a warning.
func TestRewriteNotStrings(t *testing.T) {
	for _, tc := range []struct{ value, msg string }{
		{"123", "image 123 is a number, not a string; quote it"},
		{"true", "image true is a boolean, not a string; quote it"},
		{"yes", "image yes is a boolean, not a string; quote it"},
		{"n", "image n is a boolean, not a string; quote it"},
		{"1_000", "image 1_000 is a number, not a string; quote it"},
		{"[quay.io/a/b]", "image is a list, not a string"},
		{"{{ .Values.image }}", "image is a mapping, not a string (an unquoted {{ }} template?)"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			in := "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: " + tc.value + "\n"
			res, err := Rewrite("in.yaml", []byte(in), engine(t))
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Output) != in {
				t.Errorf("output changed:\n%s", res.Output)
			}
			if len(res.Images) != 1 || res.Images[0].Decision.Action != mirror.Invalid {
				t.Fatalf("images %+v, want one invalid", res.Images)
			}
			if len(res.Warnings) != 1 || res.Warnings[0].Message != tc.msg || res.Warnings[0].Line != 5 {
				t.Errorf("warnings %v, want %q at line 5", res.Warnings, tc.msg)
			}
		})
	}
}

// TestLocateGuard shows the guard at work: an edit whose bytes are not the
// scalar as written is refused, whatever put it there.
func TestLocateGuard(t *testing.T) {
	data := []byte("kind: Pod\nargs: [a]\nimage: nginx\n")
	for _, n := range []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "nginx", Line: 2, Column: 8},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "nginx", Style: yaml.DoubleQuotedStyle, Line: 3, Column: 8},
	} {
		_, err := newLocator(data, false).locate(n, "m.example.com/nginx")
		if err == nil || errors.As(err, new(cannotEdit)) || !strings.Contains(err.Error(), "not where the parser put it") {
			t.Errorf("locate(%+v) = %v, want the guard's refusal", n, err)
		}
	}
}

// TestRewritePullNever covers images whose pull policy is Never: a rule
// that would mirror one does not, and says why, without a warning; an
// escaped one still loses the escape prefix, which is no part of its name.
func TestRewritePullNever(t *testing.T) {
	in := `kind: Pod
spec:
  containers:
  - name: a
    image: quay.io/a/b:1
    imagePullPolicy: Never
  - name: b
    image: direct.to/quay.io/a/b:1
    imagePullPolicy: Never
  - name: c
    image: quay.io/a/b:1
`
	want := strings.Replace(strings.Replace(in, "direct.to/", "", 1), "  - name: c\n    image: quay.io/", "  - name: c\n    image: "+ecr+"/quay/", 1)
	res, err := Rewrite("in.yaml", []byte(in), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(res.Output)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	var got []string
	for _, img := range res.Images {
		got = append(got, string(img.Decision.Action)+" "+img.Pulled())
	}
	if diff := cmp.Diff([]string{"kept quay.io/a/b:1", "escaped quay.io/a/b:1", "mirrored " + ecr + "/quay/a/b:1"}, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	kept := res.Images[0]
	var never *PullNeverError
	if !errors.As(kept.Decision.Err, &never) || never.Policy != "imagePullPolicy" || kept.Decision.Rule == nil || kept.Rewritten() || kept.Left != "" {
		t.Errorf("kept image %+v", kept)
	}
	if res.Kept != 1 || res.Rewrites != 2 || res.Left != 0 || res.Summary.Warnings != 0 {
		t.Errorf("summary %+v, want 1 kept, 2 rewrites, none left, no warnings", res.Summary)
	}
}

// TestRewriteReadsAsKubectl covers images that kubectl reads otherwise
// than YAML 1.2 does, or that are written in unusual forms around their
// value: each is read as kubectl reads it, and rewritten in place, in its
// form, or the stream is refused.
func TestRewriteReadsAsKubectl(t *testing.T) {
	quay := ecr + "/quay/"
	tests := []struct{ name, in, want string }{
		{"a date is a string to kubectl",
			"kind: Pod\nspec:\n  containers:\n  - image: 2001-12-14\n",
			"kind: Pod\nspec:\n  containers:\n  - image: " + ecr + "/dockerhub/2001-12-14\n"},
		{"an anchor, then the value on the next line",
			"kind: Pod\nspec:\n  containers:\n  - image: &a\n      quay.io/a\n    name: quay.io/a\n",
			"kind: Pod\nspec:\n  containers:\n  - image: &a\n      " + quay + "a\n    name: quay.io/a\n"},
		{"an anchor and a comment, then the value",
			"kind: Pod\nspec:\n  containers:\n  - image: &a # the image\n      quay.io/a\n",
			"kind: Pod\nspec:\n  containers:\n  - image: &a # the image\n      " + quay + "a\n"},
		{"a tag, then the value in a flow mapping",
			"kind: Pod\nspec:\n  containers:\n  - {image: !!str\n      quay.io/a, name: quay.io/a}\n",
			"kind: Pod\nspec:\n  containers:\n  - {image: !!str\n      " + quay + "a, name: quay.io/a}\n"},
		{"binary data, written back as binary data",
			"kind: Pod\nspec:\n  containers:\n  - image: !!binary cXVheS5pby9h\n",
			"kind: Pod\nspec:\n  containers:\n  - image: !!binary " + base64.StdEncoding.EncodeToString([]byte(quay+"a")) + "\n"},
		{"the tag !, which makes a string",
			"kind: Pod\nspec:\n  containers:\n  - image: ! quay.io/a\n",
			"kind: Pod\nspec:\n  containers:\n  - image: ! " + quay + "a\n"},
		{"an image key given as an alias, and as binary data",
			"kind: Pod\nspec:\n  containers:\n  - &k image: quay.io/a\n  - *k : quay.io/b\n  - !!binary aW1hZ2U=: quay.io/c\n",
			"kind: Pod\nspec:\n  containers:\n  - &k image: " + quay + "a\n  - *k : " + quay + "b\n  - !!binary aW1hZ2U=: " + quay + "c\n"},
		{"a merge after the image replaces it, as kubectl merges",
			"kind: Pod\nx: &m {image: quay.io/m}\nspec:\n  containers:\n  - image: nginx\n    <<: *m\n",
			"kind: Pod\nx: &m {image: quay.io/m}\nspec:\n  containers:\n  - image: nginx\n    <<: *m\n"},
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

// TestRewriteRefusesWhatKubectlCannotRead covers keys and values that
// kubectl's decoder refuses, and images that cannot be written back in
// their form: the stream is refused, at the line of the fault.
func TestRewriteRefusesWhatKubectlCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"a null key", "kind: Pod\nspec:\n  containers:\n  - ~: x\n    image: nginx\n", 4, "a null key"},
		{"a key too large", "kind: Pod\nspec:\n  containers:\n  - 18446744073709551615: x\n    image: nginx\n", 4, "too large"},
		{"a mapping as a key", "kind: Pod\nspec:\n  ? {a: b}\n  : x\n  containers: [{image: nginx}]\n", 3, "a key that is a mapping"},
		{"bad base64", "kind: Pod\nspec:\n  containers:\n  - image: !!binary '%%%'\n", 4, "invalid base64"},
		{"a value its tag refuses", "kind: Pod\nspec:\n  containers:\n  - image: !!int abc\n", 4, "cannot read abc as !!int"},
		{"a merge of a list", "kind: Pod\nspec:\n  containers:\n  - <<: [a]\n    image: nginx\n", 4, "a mapping or a list of mappings"},
		{"a merge into itself", "kind: Pod\nspec:\n  containers:\n  - &c {<<: *c, image: nginx}\n", 4, "into itself"},
		{"a keyword of YAML 1.1 as two keys", "kind: Pod\nspec:\n  containers:\n  - {yes: a, true: b, image: nginx}\n", 4, `key "true" appears twice`},
		{"a timestamp tag on an image to rewrite", "kind: Pod\nspec:\n  containers:\n  - image: !!timestamp 2001-12-14\n", 4, "tagged !!timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rewrite("bad.yaml", []byte(tc.in), engine(t))
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Rewrite = %v, want a *SyntaxError at line %d: %q", err, tc.line, tc.msg)
			}
		})
	}
}

// TestMergeBudget covers merges of merges that go-yaml v2 expands without
// end ("excessive aliasing" to kubectl): each mapping is expanded once,
// and the walk ends at once.
func TestMergeBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {k: v}\n")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [*a%d, *a%d], k%d: v}\n", i, i, i-1, i-1, i)
	}
	b.WriteString("kind: Pod\nspec:\n  containers:\n  - <<: *a60\n    image: nginx\n")
	res, err := Rewrite("in.yaml", []byte(b.String()), engine(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 {
		t.Errorf("images %v", res.Images)
	}
}

// TestDepthIsLinear holds the bytes a rewrite allocates to a document
// nested d deep to grow as d, not d²: the walk once held a path per level.
func TestDepthIsLinear(t *testing.T) {
	eng := engine(t)
	alloc := func(d int) uint64 {
		docs := []string{
			`{"kind":"Pod","spec":{"containers":[{"image":"nginx"}],"x":` + strings.Repeat(`{"a":`, d) + "1" + strings.Repeat("}", d) + "}}",
			"kind: Pod\nspec:\n  containers: [{image: nginx}]\n  x: " + strings.Repeat("[", d) + "1" + strings.Repeat("]", d) + "\n",
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, doc := range docs {
			if _, err := Rewrite("deep", []byte(doc), eng); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	alloc(100) // warm up the engine's memo and the pools
	small, large := alloc(1000), alloc(4000)
	if ratio := float64(large) / float64(small); ratio > 8 {
		t.Errorf("4,000 levels allocate %.1f times what 1,000 do (%d and %d bytes); linear is 4", ratio, large, small)
	}
}
