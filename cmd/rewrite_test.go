package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const ecr = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

// run executes kmirror in-process with args and stdin, as main would, and
// returns what it printed and its exit status.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("NO_COLOR", "")
	var out, errOut bytes.Buffer
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	if _, isExit := err.(*ExitError); err != nil && !isExit {
		errOut.WriteString("kmirror: " + ErrorText(err) + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

const (
	pod       = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: k8s.gcr.io/coredns:1.3.1 # dns\n"
	podOut    = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: " + ecr + "/gcr/google_containers/coredns:1.3.1 # dns\n"
	plainPod  = "kind: Pod\nspec:\n  containers: [{image: ghcr.io/x/y:1}]\n"
	brokenPod = "kind: Pod\n---\nkind: Pod\nspec:\n  containers: [\n    {image: nginx\n  bad: [\n"
)

func TestRewriteStdin(t *testing.T) {
	for _, args := range [][]string{{"rewrite"}, {"rewrite", "-"}, {}} {
		t.Run(strings.Join(append([]string{"kmirror"}, args...), " "), func(t *testing.T) {
			stdout, stderr, code := run(t, pod, args...)
			if code != 0 || stdout != podOut {
				t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and:\n%s", code, stdout, podOut)
			}
			if want := "rewrote 1 image in 1 of 1 document\n"; stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
		})
	}
}

func TestRewriteFilesAndDirectories(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", pod)
	write(t, dir, "sub/b.yml", "---\n"+plainPod)
	write(t, dir, "sub/c.json", `{"kind":"Pod","spec":{"containers":[{"image":"nginx"}]}}`)
	write(t, dir, "sub/notes.txt", "image: nginx\n")
	stdout, stderr, code := run(t, "", "rewrite", dir)
	want := podOut + "---\n" + plainPod + "---\n" + `{"kind":"Pod","spec":{"containers":[{"image":"` + ecr + `/dockerhub/nginx"}]}}`
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if want := "rewrote 2 images in 2 of 3 documents\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// TestRewriteJoinsInputs holds the separator written between two inputs:
// "---" on a line of its own, with no blank line before it, whether the
// input before is empty or ends without a line break.
func TestRewriteJoinsInputs(t *testing.T) {
	for _, tc := range []struct{ name, first, want string }{
		{"after an empty input", "", "---\n" + plainPod},
		{"after a comment", "# only a comment\n", "# only a comment\n---\n" + plainPod},
		{"after an input without a final line break", "# no line break", "# no line break\n---\n" + plainPod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stdout, stderr, code := run(t, "", "rewrite", "-q", write(t, dir, "a.yaml", tc.first), write(t, dir, "b.yaml", plainPod))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != tc.want {
				t.Errorf("stdout %q, want %q", stdout, tc.want)
			}
		})
	}
}

func TestRewriteInPlace(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", pod)
	b := write(t, dir, "b.yaml", plainPod)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(b, old, old); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, "", "rewrite", "-i", dir)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got := read(t, a); got != podOut {
		t.Errorf("a.yaml is\n%s\nwant\n%s", got, podOut)
	}
	if st, _ := os.Stat(a); st.Mode().Perm() != 0o640 {
		t.Errorf("a.yaml mode %v, want 0640 kept", st.Mode().Perm())
	}
	if st, _ := os.Stat(b); !st.ModTime().Equal(old) {
		t.Errorf("b.yaml, which needed no change, was rewritten")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestRewriteErrorsLoseNothing checks every trouble path: exit 2, a message
// that says where, nothing on stdout and no file touched.
func TestRewriteErrorsLoseNothing(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", pod)
	bad := write(t, dir, "bad.yaml", brokenPod)
	badRules := write(t, dir, "rules.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec:\n  mirrors:\n  - from: quay.io/\n    to: m.example.com/\n    color: red\n")
	dupRules := write(t, dir, "dup.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec:\n  mirrors:\n  - {from: quay.io/, to: a.example.com/}\n  - {from: quay.io, to: b.example.com/}\n")
	tests := []struct {
		name  string
		stdin string
		args  []string
		msg   string
	}{
		{"malformed YAML in place", "", []string{"rewrite", "-i", good, bad}, bad + ": document 2, line 6: "},
		{"malformed YAML to stdout", "", []string{"rewrite", good, bad}, bad + ": document 2, line 6: "},
		{"malformed YAML on stdin", brokenPod, nil, "stdin: document 2, line 6: "},
		{"malformed YAML with --check", "", []string{"rewrite", "--check", good, bad}, bad + ": document 2"},
		{"unknown rules field", pod, []string{"--rules", badRules}, badRules + `:7: spec.mirrors[0]: unknown field "color"`},
		{"duplicate rule", "", []string{"rewrite", "-i", "--rules", dupRules, good}, dupRules + `:6: mirrors[1].from: "quay.io" repeats the from of mirrors[0]`},
		{"missing rules", pod, []string{"rewrite", "--rules", filepath.Join(dir, "nope.yaml")}, "no preset of that name"},
		{"missing file", "", []string{"rewrite", good, filepath.Join(dir, "nope.yaml")}, "nope.yaml: no such file"},
		{"in place on stdin", pod, []string{"rewrite", "-i", "-"}, "--in-place cannot rewrite stdin"},
		{"in place without paths", pod, []string{"rewrite", "-i"}, "--in-place needs files"},
		{"in place with check", "", []string{"rewrite", "-i", "--check", good}, "cannot be combined"},
		{"json without check", pod, []string{"rewrite", "-o", "json"}, "add --check"},
		{"bad colour", pod, []string{"rewrite", "--color", "pink"}, "--color must be"},
		{"unknown flag", pod, []string{"rewrite", "--frobnicate"}, "unknown flag"},
		{"arguments to the bare command", "", []string{good}, "unknown command"},
		{"empty directory", "", []string{"rewrite", t.TempDir()}, "no .yaml, .yml or .json files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.msg)
			}
			if read(t, good) != pod || read(t, bad) != brokenPod {
				t.Errorf("a file was modified")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", pod)
	b := write(t, dir, "b.yaml", plainPod)

	stdout, stderr, code := run(t, "", "rewrite", "--check", a, b)
	if code != 1 {
		t.Errorf("exit %d, want 1 when images would change", code)
	}
	want := a + ": document 1 (Pod p), line 6: spec.containers[0].image: k8s.gcr.io/coredns:1.3.1 -> " +
		ecr + "/gcr/google_containers/coredns:1.3.1 (mirrored by k8s.gcr.io/)\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if want := "would rewrite 1 image in 1 of 2 documents\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if read(t, a) != pod {
		t.Error("--check modified a file")
	}

	stdout, _, code = run(t, "", "rewrite", "--check", "-q", b)
	if code != 0 || stdout != "" {
		t.Errorf("nothing to change: exit %d, stdout %q; want 0 and nothing", code, stdout)
	}
}

// TestCheckStrict fails the gate on warnings too, with --strict only:
// an invalid image, a value of an image field that is not a string.
func TestCheckStrict(t *testing.T) {
	for _, in := range []string{
		"kind: Pod\nspec:\n  containers: [{image: Bad:Image}]\n",
		"kind: Pod\nspec:\n  containers: [{image: 123}]\n",
		"kind: Pod\nspec:\n  containers: [{image: {a: b}}]\n",
	} {
		if _, stderr, code := run(t, in, "rewrite", "--check"); code != 0 {
			t.Errorf("%q without --strict: exit %d, want 0: %s", in, code, stderr)
		}
		if _, stderr, code := run(t, in, "rewrite", "--check", "--strict"); code != 1 || !strings.Contains(stderr, "1 warning") {
			t.Errorf("%q with --strict: exit %d, want 1: %s", in, code, stderr)
		}
	}
	if _, _, code := run(t, plainPod, "rewrite", "--check", "--strict"); code != 0 {
		t.Errorf("no warning with --strict: exit %d, want 0", code)
	}
	if _, stderr, code := run(t, plainPod, "rewrite", "--strict"); code != 2 || !strings.Contains(stderr, "add --check") {
		t.Errorf("--strict without --check: exit %d, %s", code, stderr)
	}
}

func TestCheckJSON(t *testing.T) {
	stdout, _, code := run(t, pod+"---\nkind: Pod\nspec:\n  containers: [{image: Bad}]\n", "rewrite", "--check", "-o", "json", "-q")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var rep struct {
		Changed bool
		Summary struct{ Images, Documents, ChangedDocuments, Warnings int }
		Changes []struct {
			File, Path, Image, Result, Action, Rule string
			Document, Line                          int
			Object                                  struct{ Kind, Name string }
		}
		Warnings []struct {
			Path, Message string
			Line          int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	if !rep.Changed || rep.Summary.Images != 1 || rep.Summary.Documents != 2 || rep.Summary.Warnings != 1 || len(rep.Changes) != 1 || len(rep.Warnings) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	c := rep.Changes[0]
	if c.File != "stdin" || c.Document != 1 || c.Line != 6 || c.Object.Kind != "Pod" || c.Object.Name != "p" ||
		c.Path != "spec.containers[0].image" || c.Image != "k8s.gcr.io/coredns:1.3.1" ||
		c.Result != ecr+"/gcr/google_containers/coredns:1.3.1" || c.Action != "mirrored" || c.Rule != "k8s.gcr.io/" {
		t.Errorf("change: %+v", c)
	}
	if w := rep.Warnings[0]; w.Line != 10 || !strings.Contains(w.Message, "invalid image reference") {
		t.Errorf("warning: %+v", w)
	}
}

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", pod)
	stdout, _, code := run(t, "", "rewrite", "--diff", "-q", a)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	want := "--- " + a + "\n+++ " + a + "\n@@ -3,4 +3,4 @@\n spec:\n   containers:\n   - name: a\n" +
		"-    image: k8s.gcr.io/coredns:1.3.1 # dns\n+    image: " + ecr + "/gcr/google_containers/coredns:1.3.1 # dns\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	stdout, _, code = run(t, "", "rewrite", "--diff", "--check", "-q", a)
	if code != 1 || !strings.HasPrefix(stdout, "--- "+a) {
		t.Errorf("--diff --check: exit %d, stdout %q; want 1 and the diff", code, stdout)
	}
}

func TestColor(t *testing.T) {
	stdout, _, _ := run(t, pod, "rewrite", "--check", "--color", "always", "-q")
	if !strings.Contains(stdout, "\x1b[31mk8s.gcr.io/coredns:1.3.1\x1b[0m") {
		t.Errorf("--color always: no colour in %q", stdout)
	}
	for _, args := range [][]string{{"--color", "never"}, {"--color", "auto"}} {
		stdout, _, _ := run(t, pod, append([]string{"rewrite", "--check", "-q"}, args...)...)
		if strings.Contains(stdout, "\x1b[") {
			t.Errorf("%v: colour in %q", args, stdout)
		}
	}
}

func TestQuietAndWarnings(t *testing.T) {
	in := "kind: Pod\nspec:\n  containers: [{image: Bad}]\n"
	stdout, stderr, code := run(t, in, "-q")
	if code != 0 || stdout != in {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if want := `warning: stdin: document 1 (Pod), line 3: spec.containers[0].image: invalid image reference "Bad"`; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want the warning %q", stderr, want)
	}
	if strings.Contains(stderr, "rewrote") {
		t.Errorf("-q printed the summary: %q", stderr)
	}
}

func TestRulesCommand(t *testing.T) {
	stdout, _, code := run(t, "", "rules")
	if code != 0 || !strings.Contains(stdout, "kind: MirrorRules") || !strings.Contains(stdout, "from: registry.k8s.io/") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	dir := t.TempDir()
	rules := write(t, dir, "r.yaml", stdout)
	again, _, code := run(t, "", "rules", "--rules", rules)
	if code != 0 || again != stdout {
		t.Errorf("printing the printed rules again: exit %d, a different result:\n%s", code, again)
	}
}

func TestVersionAndHelp(t *testing.T) {
	stdout, _, code := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "kmirror ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	for _, c := range NewRoot().Commands() {
		if c.Name() == "help" {
			continue
		}
		stdout, _, code := run(t, "", c.Name(), "--help")
		if code != 0 || !strings.Contains(stdout, "Examples:") {
			t.Errorf("%s --help: exit %d, no worked example in:\n%s", c.Name(), code, stdout)
		}
	}
}
