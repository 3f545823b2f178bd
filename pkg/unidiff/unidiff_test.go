package unidiff_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/unidiff"
	"kmirror.dev/kmirror/rules"
)

// diff rewrites in and returns its diff, as kmirror --diff writes it, and
// the rewritten stream.
func diff(t *testing.T, in string) (string, string) {
	t.Helper()
	return diffNamed(t, in, "in.yaml")
}

// diffNamed is diff for a file of that name.
func diffNamed(t *testing.T, in, name string) (string, string) {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var d, out bytes.Buffer
	w := unidiff.New(&d, "a/"+name, "b/"+name)
	_, err = manifest.Scan(name, strings.NewReader(in), eng, func(p *manifest.Part) error {
		if _, err := p.WriteTo(&out); err != nil {
			return err
		}
		return w.Add(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return d.String(), out.String()
}

// stream makes a stream of n documents where images change here and there,
// close together, on adjacent lines, and far apart, with lines a diff could
// mistake for one another.
func stream(r *rand.Rand, n int) string {
	var b strings.Builder
	images := []string{"nginx", "ghcr.io/x/y", "quay.io/a/b", "k8s.gcr.io/pause:3.1", "direct.to/busybox"}
	for i := range n {
		fmt.Fprintf(&b, "---\nkind: Pod\nmetadata:\n  name: p%d\nspec:\n  containers:\n", i)
		for range r.IntN(4) + 1 {
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, "  - image: %s\n", images[r.IntN(len(images))])
				continue
			}
			fmt.Fprintf(&b, "  - name: c\n    image: %s\n", images[r.IntN(len(images))])
			for range r.IntN(9) {
				b.WriteString("    # args: [x]\n")
			}
		}
	}
	return b.String()
}

// TestAgreesWithDiff holds the diff read off the edits to what GNU diff
// finds, comparing the input and the output line by line.
func TestAgreesWithDiff(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Fatalf("diff is not installed: %v", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for i := range 200 {
		in := stream(r, r.IntN(12)+1)
		if i%3 == 0 {
			in = strings.TrimSuffix(in, "\n")
		}
		got, out := diff(t, in)
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := errors.Join(os.WriteFile(a, []byte(in), 0o644), os.WriteFile(b, []byte(out), 0o644)); err != nil {
			t.Fatal(err)
		}
		want, _ := exec.Command("diff", "-u", "-d", "--label", "a/in.yaml", "--label", "b/in.yaml", a, b).Output()
		if got != string(want) {
			t.Fatalf("stream %d: (-diff +unidiff):\n%s\ninput:\n%s", i, cmp.Diff(string(want), got), in)
		}
	}
}

// TestPatchApplies checks that patch and git apply take the diff, also
// where the last line has no newline or is the one that changes, and for
// file names with a space, a tab or a quote.
func TestPatchApplies(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []string{
		"kind: Pod\nspec:\n  containers: [{image: nginx}]",
		"kind: Pod\nspec:\n  containers:\n  - image: nginx\n  - args: [a]\n    image: ghcr.io/x\n",
		"kind: Pod\nspec:\n  containers:\n  - image: nginx\n    args: [a]",
		"{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"nginx\"},{\"image\":\"quay.io/a/b\"}]}}",
		"kind: Pod\nspec:\n  containers:\n  - image: \"quay.io/a\\\n      /b\"\n    args: [x]\n",
	}
	for range 20 {
		cases = append(cases, strings.TrimSuffix(stream(r, r.IntN(5)+1), "\n"))
	}
	for _, tool := range []string{"patch", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: %v", tool, err)
		}
	}
	names := []string{"in.yaml", "my app.yaml", "tab\tand \"quote\".yaml", "back\\slash.yaml", "é.yaml"}
	for i, in := range cases {
		name := names[i%len(names)]
		d, out := diffNamed(t, in, name)
		dir := t.TempDir()
		file := filepath.Join(dir, name)
		for _, apply := range [][]string{{"patch", "-p1", "-s"}, {"git", "apply", "-p1"}} {
			if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(apply[0], apply[1:]...)
			cmd.Dir, cmd.Stdin = dir, strings.NewReader(d)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("case %d: %s: %v: %s\ndiff:\n%s", i, apply[0], err, msg, d)
			}
			if got, _ := os.ReadFile(file); string(got) != out {
				t.Errorf("case %d: %s made %q, want %q", i, apply[0], got, out)
			}
		}
	}
}

func TestNoNewlineAtEnd(t *testing.T) {
	got, _ := diff(t, "kind: Pod\nspec:\n  containers: [{image: nginx}]")
	want := "--- a/in.yaml\n+++ b/in.yaml\n@@ -1,3 +1,3 @@\n kind: Pod\n spec:\n-  containers: [{image: nginx}]\n\\ No newline at end of file\n" +
		"+  containers: [{image: 048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/dockerhub/nginx}]\n\\ No newline at end of file\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
