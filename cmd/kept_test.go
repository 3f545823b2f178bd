package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const keptPod = `apiVersion: v1
kind: Pod
metadata: {name: preloaded}
spec:
  containers:
  - name: app
    image: k8s.gcr.io/pause:3.1
    imagePullPolicy: Never
`

// TestKeptImages covers an image whose pull policy is Never in every
// command: never rewritten, not a finding of --check, listed by images
// with its reason, and not in the mirror list.
func TestKeptImages(t *testing.T) {
	stdout, stderr, code := run(t, keptPod, "rewrite")
	if code != 0 || stdout != keptPod || !strings.Contains(stderr, "rewrote 0 images in 0 of 1 document, 1 kept as written (pull policy Never)") {
		t.Errorf("rewrite: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = run(t, keptPod, "rewrite", "--check", "-o", "json")
	var check struct {
		Changes []any
		Summary struct{ Images, Kept int }
		Changed bool
	}
	if err := json.Unmarshal([]byte(stdout), &check); err != nil || code != 0 {
		t.Fatalf("rewrite --check: exit %d, %v, stderr %q", code, err, stderr)
	}
	if len(check.Changes) != 0 || check.Changed || check.Summary.Images != 0 || check.Summary.Kept != 1 {
		t.Errorf("rewrite --check -o json: %s", stdout)
	}
	stdout, _, _ = run(t, keptPod, "images")
	if !strings.Contains(stdout, "k8s.gcr.io/pause:3.1  kept (imagePullPolicy: Never)") {
		t.Errorf("images table:\n%s", stdout)
	}
	stdout, _, _ = run(t, keptPod, "images", "-o", "json")
	var list struct {
		Images []struct{ Image, Result, Action, Rule, Reason string }
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	want := []struct{ Image, Result, Action, Rule, Reason string }{{
		Image: "k8s.gcr.io/pause:3.1", Result: "k8s.gcr.io/pause:3.1", Action: "kept", Rule: "k8s.gcr.io/",
		Reason: "imagePullPolicy is Never: the node must already hold the image under this name, so it is not mirrored",
	}}
	if diff := cmp.Diff(want, list.Images); diff != "" {
		t.Errorf("images -o json (-want +got):\n%s", diff)
	}
	if stdout, _, code = run(t, keptPod, "images", "-o", "mirror-list"); stdout != "" || code != 0 {
		t.Errorf("images -o mirror-list: exit %d, %q", code, stdout)
	}
}
