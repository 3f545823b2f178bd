package mirrorsync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/registry"
)

// TestRunConflicts: pairs that would write one target reference with
// different images fail before anything is copied; pairs that would write
// the same image do not.
func TestRunConflicts(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{"docker.io/library/nginx:1": d1,
		"a.io/app:1": d1, "b.io/app:1": d2, // two sources, one target, two images
		"k8s.gcr.io/pause:3.9": d1, "registry.k8s.io/pause:3.9": d1, // two sources, one image
		"c.io/tool:1": d2, "c.io/tool:1@" + d2: d2, // the tag names the pinned digest
		"nginx:1":  d1,
		"e.io/x:1": d1, "f.io/x:1": d2, // g.io/x:1 is not found
	}}
	pairs := []Pair{
		{"a.io/app:1", "m/app:1"},
		{"b.io/app:1", "m/app:1"},
		{"d.io/lib:1@" + d1, "m/lib:1@" + d1},
		{"d.io/lib:1@" + d2, "m/lib:1@" + d2},
		{"k8s.gcr.io/pause:3.9", "m/k8s/pause:3.9"},
		{"registry.k8s.io/pause:3.9", "m/k8s/pause:3.9"},
		{"c.io/tool:1", "m/tool:1"},
		{"c.io/tool:1@" + d2, "m/tool:1@" + d2},
		{"nginx:1", "m/hub/nginx:1"},
		{"docker.io/library/nginx:1", "m/hub/nginx:1"}, // one source, written two ways
		{"e.io/x:1", "m/x:1"},
		{"f.io/x:1", "m/x:1"},
		{"g.io/x:1", "m/x:1"},
	}
	for _, dry := range []bool{true, false} {
		f.copies = nil
		obs := &countingObserver{}
		results := Run(context.Background(), f, pairs, Options{DryRun: dry, Observer: obs})
		var got []string
		for _, r := range results {
			line := string(r.Status)
			switch r.Status {
			case Copied, Present, WouldCopy:
				line = "ok"
			}
			if errors.Is(r.Err, ErrConflict) {
				line += ": " + r.Err.Error()
			} else if r.Err != nil {
				line += ": other"
			}
			got = append(got, line)
		}
		ok := "ok"
		want := []string{
			"failed: conflict: b.io/app:1 also goes to m/app:1 with another digest; none of them is copied, or the last one copied would win",
			"failed: conflict: a.io/app:1 also goes to m/app:1 with another digest; none of them is copied, or the last one copied would win",
			"failed: conflict: d.io/lib:1@" + d2 + " also goes to m/lib:1 with another digest; none of them is copied, or the last one copied would win",
			"failed: conflict: d.io/lib:1@" + d1 + " also goes to m/lib:1 with another digest; none of them is copied, or the last one copied would win",
			ok, ok, ok, ok, ok, ok,
			"failed: conflict: f.io/x:1, g.io/x:1 also goes to m/x:1 with another digest; none of them is copied, or the last one copied would win",
			"failed: conflict: e.io/x:1, g.io/x:1 also goes to m/x:1 with another digest; none of them is copied, or the last one copied would win",
			"failed: other", // g.io/x:1: not found
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dry run %v (-want +got):\n%s", dry, diff)
		}
		for _, c := range f.copies {
			if strings.Contains(c, "app") || strings.Contains(c, "lib") || strings.Contains(c, "/x:") {
				t.Errorf("%s was copied despite the conflict", c)
			}
		}
		// Conflicts are told to the observer, as failures that never
		// started.
		if obs.done.Load() != int32(len(pairs)) || obs.started.Load() != int32(len(pairs)-7) {
			t.Errorf("observer heard %d starts and %d ends", obs.started.Load(), obs.done.Load())
		}
		if !errors.Is(results[12].Err, registry.ErrNotFound) {
			t.Errorf("the missing source: %v", results[12].Err)
		}
	}
	// The sources of targets written once, and one source written twice,
	// are not asked for a digest before the copy.
	f.heads = nil
	Run(context.Background(), f, []Pair{{"nginx:1", "m/nginx:1"}, {"docker.io/library/nginx:1", "m/nginx:1"}}, Options{DryRun: true})
	if f.heads["nginx:1"] != 1 || f.heads["docker.io/library/nginx:1"] != 1 {
		t.Errorf("one source in two spellings was asked %v", f.heads)
	}
}
