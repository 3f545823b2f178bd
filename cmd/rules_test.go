package cmd

import (
	"fmt"
	"strings"
	"testing"

	"kmirror.dev/kmirror/pkg/manifest"
)

// TestRulesPrintsImageFields checks that `kmirror rules` prints the fields
// a rules file declares, and lists every built-in field after the rules,
// in comments, so that the output is still a rules file.
func TestRulesPrintsImageFields(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, dir, "r.yaml", `apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata: {name: fields}
spec:
  mirrors: [{from: quay.io/, to: m.example.com/quay/}]
  imageFields:
  - group: example.com
    kind: Stage
    path: spec.stages[].runner.image
`)
	stdout, stderr, code := run(t, "", "rules", "--rules", rules)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	at := strings.Index(stdout, "# Built-in image fields")
	if at < 0 {
		t.Fatalf("no built-in fields:\n%s", stdout)
	}
	body, comment := stdout[:at], stdout[at:]
	if !strings.Contains(body, "  imageFields:\n  - group: example.com\n    kind: Stage\n    path: spec.stages[].runner.image\n") {
		t.Fatalf("no imageFields, or no built-in fields after them:\n%s", stdout)
	}
	for _, line := range strings.Split(strings.TrimSpace(comment), "\n") {
		if !strings.HasPrefix(line, "#") {
			t.Errorf("a line of the built-in fields is not a comment: %q", line)
		}
	}
	if !strings.Contains(comment, strings.Join(manifest.PodSpecFields, ", ")) {
		t.Errorf("the pod spec fields are not listed:\n%s", comment)
	}
	for _, f := range manifest.BuiltinFields() {
		if !strings.Contains(comment, "# - group: "+f.Group+"\n") || !strings.Contains(comment, f.Kind) || !strings.Contains(comment, "path: "+f.Path) {
			t.Errorf("built-in field %s %s %s is not listed", f.Group, f.Kind, f.Path)
		}
	}
	again, _, code := run(t, "", "rules", "--rules", write(t, dir, "printed.yaml", stdout))
	if code != 0 || again != stdout {
		t.Errorf("printing the printed rules again: exit %d, a different result:\n%s", code, again)
	}
}

// TestRulesWarnOfSharedTo checks that two sources sent to one "to" are
// warned of by `kmirror rules`, by every command that loads the rules, and
// by the KRM function, but not the default rules' names of one registry.
func TestRulesWarnOfSharedTo(t *testing.T) {
	const spec = `spec:
  mirrors:
  - {from: quay.io/, to: m.example.com/x/}
  - {from: ghcr.io/, to: m.example.com/x/}
`
	rules := write(t, t.TempDir(), "r.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata: {name: shared}\n"+spec)
	const want = "warning: rules " + "%s: mirrors[0] and mirrors[1] send quay.io/ and ghcr.io/ to the same m.example.com/x/"
	for _, args := range [][]string{{"rules"}, {"rewrite", "-"}, {"images", "-"}} {
		_, stderr, code := run(t, "kind: Pod\n", append(args, "--rules", rules)...)
		if code != 0 || !strings.Contains(stderr, fmt.Sprintf(want, rules)) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
		if _, stderr, _ := run(t, "kind: Pod\n", args...); strings.Contains(stderr, "warning") {
			t.Errorf("%v with the default rules: %s", args, stderr)
		}
	}
	list := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n  apiVersion: kmirror.dev/v1alpha1\n  kind: MirrorRules\n  metadata: {name: shared}\n  " +
		strings.ReplaceAll(strings.TrimSuffix(spec, "\n"), "\n", "\n  ") + "\n"
	stdout, stderr, code := run(t, list)
	if code != 0 || !strings.Contains(stdout, "severity: warning") || !strings.Contains(stderr, "send quay.io/ and ghcr.io/ to the same") {
		t.Errorf("KRM function: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
